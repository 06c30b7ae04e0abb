"""Tests of the codes package: identifiers, GTINs, scanned-code grammar and QR text formats."""
