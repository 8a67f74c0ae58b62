#!/bin/sh
# Dead-man switch of a consensus-bench testbed instance. A systemd timer runs this every minute
# from boot (so it holds across stop/start and reboots): once the deadline in the deadline file
# (seconds since the epoch, UTC) has passed, the instance powers off (on AWS, which terminates
# it). A deadline that passed before this boot (a stopped instance started again) gets a grace
# period, so that `cargo xtask testbed start` can write a new one first; a missing or unreadable
# deadline counts as passed.
#
# The environment can replace the clock, the uptime, the file and the power-off command (tests).
set -eu
deadline_file=${DEADMAN_DEADLINE_FILE:-/etc/consensus-bench/deadline}
grace=${DEADMAN_GRACE_SECONDS:-900}
now=${DEADMAN_NOW:-$(date +%s)}
uptime=${DEADMAN_UPTIME:-$(cut -d. -f1 /proc/uptime)}
poweroff=${DEADMAN_POWEROFF:-systemctl poweroff}

deadline=""
if [ -r "$deadline_file" ]; then
  deadline=$(tr -cd '0-9' <"$deadline_file")
fi
if [ -z "$deadline" ]; then
  deadline=0
  why="no readable deadline in $deadline_file"
else
  why="the deadline $deadline has passed"
fi
if [ "$now" -lt "$deadline" ]; then
  exit 0
fi
if [ "$((now - uptime))" -ge "$deadline" ] && [ "$uptime" -lt "$grace" ]; then
  echo "consensus-bench dead-man switch: $why before this boot; powering off in $((grace - uptime)) s unless re-armed"
  exit 0
fi
echo "consensus-bench dead-man switch: $why; powering off"
exec $poweroff
