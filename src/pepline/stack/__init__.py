"""The local stack of real services for development and tests.

Kafka, Prosody (and ejabberd), Mosquitto, gpsd and Radicale, started as local processes.
"""
