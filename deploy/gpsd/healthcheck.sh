#!/bin/sh
# Healthy when gpsd greets a client with its VERSION report and, with WATCH on, a fix report
# from the replayed log (a real gpsd exchange, as the local stack's probe).
timeout 5 gpspipe -w -n 6 "127.0.0.1:${GPSD_PORT:-2947}" | grep -q '"class":"\(TPV\|SKY\)"'
