"""One view-model per screen: what the screen may ask and do, and the updates it follows.

A screen names its view-model type (``AisleScreen.model``); the app builds one per screen with the controller.
The controller publishes changes on ``Controller.updates`` (``base.Updates``) and each view-model relays the
ones its screen shows, so neither the controller nor the screens look each other up by name.
"""
