"""pepline publisher service: Consumes normalized events from Kafka and publishes them into users'
PEP nodes as a delegated publisher.
"""
