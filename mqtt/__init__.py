"""The Aisle store protocol over MQTT: topics, payloads, client, request/response, brokers."""
