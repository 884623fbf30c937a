#!/bin/sh
# Example notify hook for a cloud pair: reassign the elastic/secondary IP to this instance when
# halo becomes master. halod runs it as argv (no shell between), with a timeout, and never
# waits for it before moving on. Environment: HALO_INSTANCE, HALO_GROUP, HALO_OLD_STATE,
# HALO_NEW_STATE, HALO_VIPS. Replace the provider call with yours, e.g.:
#   aws ec2 assign-private-ip-addresses --network-interface-id "$ENI" \
#       --private-ip-addresses "$1" --allow-reassignment
set -eu
vip=$1
logger -t halo-notify "instance ${HALO_INSTANCE:-?} is ${HALO_NEW_STATE:-MASTER}: moving $vip here"
