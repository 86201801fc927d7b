"""The local stack of real services (Kafka, Prosody, Mosquitto, gpsd, Radicale) for development and tests."""
