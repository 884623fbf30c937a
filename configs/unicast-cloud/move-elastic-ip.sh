#!/bin/sh
# Example notify hook for a cloud pair: reassign the elastic/secondary IP to this instance when
# halo becomes master. halod runs it as argv (no shell between), with a timeout, and never
# waits for it before moving on; it is killed (with its children) after notify.timeout.
# Environment: HALO_INSTANCE, HALO_GROUP (empty outside a sync group), HALO_OLD_STATE,
# HALO_NEW_STATE (INIT, BACKUP, MASTER, FAULT), HALO_VIPS (space separated, with their
# prefix length: 192.0.2.100/32), HALO_REASON. Replace the provider call with yours, e.g.:
#   aws ec2 assign-private-ip-addresses --network-interface-id "$ENI" \
#       --private-ip-addresses "$1" --allow-reassignment
set -eu
vip=$1
logger -t halo-notify "instance ${HALO_INSTANCE:-?} is ${HALO_NEW_STATE:-MASTER}: moving $vip here"
