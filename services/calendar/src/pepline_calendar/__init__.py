"""pepline calendar service: iCalendar files and CalDAV collections to calendar-state events."""
