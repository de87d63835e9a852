#!/bin/sh
# Runs as root inside a printer host's fresh network, mount and UTS namespaces: gives the host
# its own /dev (with its own pty instance and /dev/serial), /tmp, /run, /home and user database,
# then becomes the host daemon. Everything mounted here disappears with the namespace.
set -eu
host_dir=$1
repo=$2
home_mb=$3
host_name=$4
user=$5
uid=$6
gid=$7
node=$8

# The project may live under a directory this script is about to cover (/tmp, /home, /run): keep
# it reachable at a fixed place inside the host directory first.
mount --bind "$repo" "$host_dir/repo"
repo="$host_dir/repo"

mount -t tmpfs -o mode=755,size=16m devtmp /dev
mknod -m 666 /dev/null c 1 3
mknod -m 666 /dev/zero c 1 5
mknod -m 666 /dev/full c 1 7
mknod -m 666 /dev/random c 1 8
mknod -m 666 /dev/urandom c 1 9
mknod -m 666 /dev/tty c 5 0
mkdir /dev/pts /dev/shm
# As Debian mounts it: a new pty is group tty (klipper_mcu makes its pty 0660, for group tty).
mount -t devpts -o newinstance,ptmxmode=0666,mode=620,gid=5 devpts /dev/pts
ln -s pts/ptmx /dev/ptmx
ln -s /proc/self/fd /dev/fd
ln -s /proc/self/fd/0 /dev/stdin
ln -s /proc/self/fd/1 /dev/stdout
ln -s /proc/self/fd/2 /dev/stderr
mount -t tmpfs -o mode=1777 shm /dev/shm

mount -t tmpfs -o mode=1777 tmp /tmp
mount -t tmpfs -o mode=755 run /run
mkdir -p /run/sshd /run/lockstep-sim
mount --bind "$host_dir/run" /run/lockstep-sim

mount -t tmpfs -o mode=755 homes /home
mkdir "/home/$user"
mount -t tmpfs -o "size=${home_mb}m,mode=755,uid=$uid,gid=$gid" home "/home/$user"

mount --bind "$host_dir/etc/passwd" /etc/passwd
mount --bind "$host_dir/etc/group" /etc/group
mount --bind "$host_dir/etc/shadow" /etc/shadow
mount --bind "$host_dir/etc/hosts" /etc/hosts
mount --bind "$host_dir/usr-local-bin" /usr/local/bin
# Where deploy/host-helper/install.sh puts the root helper.
mount --bind "$host_dir/usr-local-sbin" /usr/local/sbin
mkdir -p /usr/local/libexec
mount --bind "$host_dir/usr-local-libexec" /usr/local/libexec
# systemctl where sudoers rules name it.
mount --bind "$repo/test/farm/host-tools/bin/systemctl" /usr/bin/systemctl
mkdir -p /etc/systemd/system
mount --bind "$host_dir/etc/systemd-system" /etc/systemd/system
mount --bind "$host_dir/etc/sudoers.d" /etc/sudoers.d

hostname "$host_name"
cd /
exec "$node" -r "$repo/tools/register.js" "$repo/test/farm/hostd/main.ts" "$host_dir/host.json"
