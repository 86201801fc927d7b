"""pepline gps service: gpsd (TPV reports) to normalized location events."""
