"""pepline mqtt service: OwnTracks, room-presence and generic sensor messages over MQTT to
normalized events.
"""
