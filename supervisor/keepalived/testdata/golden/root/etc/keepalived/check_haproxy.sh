#!/bin/bash
# Exit 1 when HAProxy is not running, so that keepalived lowers the priority.
SERVICE="haproxy"
STATUS=$(pidof $SERVICE | wc -w)
if [ "$STATUS" -eq 0 ]; then
    exit 1
else
    exit 0
fi
