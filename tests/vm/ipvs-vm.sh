#!/bin/bash
# tests/vm/ipvs-vm.sh - run a command as root inside a throw-away QEMU VM that
# boots a stock Debian 12 kernel (linux-image-6.1.0-*-amd64, which has ip_vs
# and every scheduler as modules), for testing code that programs IPVS.
# lvsd's own copy (the project must not depend on anything outside the repo).
# Rust integration tests use it through tests/vm/harness.rs; see tests/vm/README.md.
#
#   tests/vm/ipvs-vm.sh /path/to/test-binary [args...]         # exec a host executable
#   tests/vm/ipvs-vm.sh 'ipvsadm -A -t 10.0.0.1:80 -s rr; ipvsadm -Ln'   # one shell line
#   tests/vm/ipvs-vm.sh -c 'shell command line'
#   tests/vm/ipvs-vm.sh --build                                 # only fetch + build the cache
#   CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER=tests/vm/ipvs-vm.sh cargo test --test X
#
# The guest chroots into the host root filesystem (9p, read-only) with the
# directories in $IPVSVM_SHARES (default: the current git checkout and /tmp) shared read-write, fresh
# /proc /sys /dev /run, the caller's environment and cwd, stdin = /dev/null.
# So any host binary (dynamic or static) runs unchanged.  Its stdout/stderr
# go to this script's stdout/stderr (virtio-serial, streamed); the script exits
# with the command's exit status (124 = VM timeout, 125 = VM/harness failure).
#
# The first call downloads the kernel .deb (apt-get download; nothing is
# installed on the host) and builds vmlinux + initramfs under $IPVSVM_CACHE
# (default /tmp/lvsd-ipvsvm/cache, ~450 MB); later calls boot in ~2-3 s (TCG).
# Host needs: qemu-system-x86, busybox-static, cpio, xz-utils, apt-get/dpkg
# (and ipvsadm, the witness the tests run inside the guest).
#
# Env knobs: IPVSVM_MEM (MiB, 1024)  IPVSVM_SMP (1)  IPVSVM_TIMEOUT (s, 900)
#   IPVSVM_ACCEL (auto|tcg|kvm; auto = kvm only with vmx/svm in /proc/cpuinfo)
#   IPVSVM_MACHINE (microvm when the host TSC rate is known, else pc)
#   IPVSVM_CPU (TCG cpu model, default x86-64-v2 level; "max" for AVX2 code)
#   IPVSVM_TSC_KHZ  IPVSVM_SHARES  IPVSVM_APPEND (extra kernel args)
#   IPVSVM_KPKG (kernel package, default: the one linux-image-amd64 depends on)
#   IPVSVM_BASE (/tmp/lvsd-ipvsvm)  IPVSVM_CACHE ($IPVSVM_BASE/cache)
#   IPVSVM_KEEP=1 (keep run dir with console.log)  IPVSVM_REBUILD=1
#   IPVSVM_SELFTEST=1 (init first runs the initramfs' own ipvsadm demo)
set -euo pipefail

BASE=${IPVSVM_BASE:-/tmp/lvsd-ipvsvm}
CACHE=${IPVSVM_CACHE:-$BASE/cache}
MEM=${IPVSVM_MEM:-1024}
SMP=${IPVSVM_SMP:-1}
TIMEOUT=${IPVSVM_TIMEOUT:-900}
ACCEL=${IPVSVM_ACCEL:-auto}
if [[ $ACCEL == auto ]]; then
  # Real VT-x/AMD-V only.  A PVM /dev/kvm (no vmx/svm flag, e.g. nested in a
  # Firecracker/PVM guest) cannot run a stock kernel: it emulates every
  # instruction and dies with "KVM internal error ... emulation failure".
  if [[ -r /dev/kvm && -w /dev/kvm ]] && grep -qwE 'vmx|svm' /proc/cpuinfo; then ACCEL=kvm; else ACCEL=tcg; fi
fi
SHARES=${IPVSVM_SHARES:-"$(git rev-parse --show-toplevel 2>/dev/null || pwd -P) /tmp"}

die() { echo "ipvs-vm: $*" >&2; exit 125; }

# Modules loaded at boot (deps are resolved automatically); bridge and ipip are
# for the traffic lab (tests/traffic_vm.rs: namespaces joined by bridges, LVS-TUN), ipvlan and
# macvlan for VRRP's use_ipvlan / use_vmac and vrf for its `vrf` (tests/vrrp_vm.rs).  Everything else
# under net/netfilter/ipvs (and nlmon, for capturing netlink with tcpdump) is in
# the initramfs too and autoloads on demand
# (kernel request_module -> busybox modprobe), e.g. "-s dh" or "-s mh".
BOOT_MODULES="virtio_pci virtio_mmio 9pnet_virtio 9p virtio_console crc32c_generic libcrc32c
  ip_vs ip_vs_rr ip_vs_wrr ip_vs_lc ip_vs_wlc ip_vs_sh ip_vs_mh dummy veth bridge ipip ipvlan macvlan vrf"
EXTRA_MODULES_GLOB="kernel/net/netfilter/ipvs/*.ko* kernel/net/netfilter/xt_ipvs.ko* kernel/drivers/net/nlmon.ko*
  kernel/net/netfilter/nf_tables.ko* kernel/net/netfilter/nft_*.ko* kernel/net/ipv4/netfilter/nft_*.ko*
  kernel/net/ipv6/netfilter/nft_*.ko*"

# ---------------------------------------------------------------- guest init
# (kept in this file; its hash is part of the initramfs cache key)
read -r -d '' GUEST_INIT <<'INIT_EOF' || true
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo /sbin/modprobe > /proc/sys/kernel/modprobe
KVER=$(uname -r)
while read -r m args; do
  insmod "/lib/modules/$KVER/$m" $args || echo "ipvs-vm init: insmod $m failed" > /dev/console
done < /etc/modules.boot
ip link set lo up
SHARES=; RUN=; SELFTEST=0
for a in $(cat /proc/cmdline); do
  case "$a" in
    ipvsvm_shares=*) SHARES=${a#*=} ;;
    ipvsvm_selftest=1) SELFTEST=1 ;;
  esac
done
# virtio-serial ports: "out" / "err" -> caller's stdout / stderr
for p in /sys/class/virtio-ports/vport*; do
  [ -e "$p/name" ] && ln -sf "/dev/${p##*/}" "/dev/ipvsvm-$(cat "$p/name")"
done
OUT=/dev/ipvsvm-out; ERR=/dev/ipvsvm-err
[ -e $OUT ] || OUT=/dev/console; [ -e $ERR ] || ERR=/dev/console
if [ "$SELFTEST" = 1 ]; then
  { echo "== selftest (initramfs ipvsadm)"; lsmod | grep -E '^(ip_vs|nf_conntrack|9p)'
    ipvsadm -A -t 10.0.0.1:80 -s rr && ipvsadm -a -t 10.0.0.1:80 -r 10.0.1.1:80 -m &&
    ipvsadm -Ln && cat /proc/net/ip_vs && ipvsadm -C; echo "== selftest rc=$?"; } > $OUT 2> $ERR
fi
O9P=trans=virtio,version=9p2000.L,msize=512000
mkdir -p /host
mount -t 9p -o ro,$O9P,cache=loose hostroot /host || { echo "ipvs-vm init: cannot mount host root" > $ERR; poweroff -f; }
for s in $(echo "$SHARES" | tr ',' ' '); do
  tag=${s%%:*}; path=${s#*:}
  mount -t 9p -o rw,$O9P "$tag" "/host$path" || echo "ipvs-vm init: cannot mount $path" > $ERR
done
mount -t proc proc /host/proc
mount -t sysfs sysfs /host/sys
mount -t devtmpfs devtmpfs /host/dev
mkdir -p /host/dev/pts /host/dev/shm
mount -t devpts devpts /host/dev/pts
mount -t tmpfs tmpfs /host/dev/shm
mount -t tmpfs tmpfs /host/run
mkdir -p /host/run/ipvsvm
mount -t 9p -o rw,$O9P ipvsvmrun /host/run/ipvsvm
chroot /host /bin/bash /run/ipvsvm/wrapper.sh < /dev/null > $OUT 2> $ERR
rc=$?
echo "$rc" > /host/run/ipvsvm/rc
echo "ipvs-vm init: command exited with $rc" > /dev/console
sync
poweroff -f
INIT_EOF

# Runs inside the chroot (host bash): restore env, cwd, argv; exec the command.
read -r -d '' GUEST_WRAPPER <<'WRAP_EOF' || true
while IFS= read -r -d '' kv; do
  case ${kv%%=*} in _|SHLVL|PWD|OLDPWD|BASH*|SHELLOPTS|EUID|UID|PPID|GROUPS) continue ;; esac
  [[ $kv =~ ^[A-Za-z_][A-Za-z0-9_]*= ]] && export "$kv" 2>/dev/null
done < /run/ipvsvm/env
mapfile -d '' argv < /run/ipvsvm/argv
cd "$(cat /run/ipvsvm/cwd)" 2>/dev/null || cd /
exec "${argv[@]}"
WRAP_EOF

# ------------------------------------------------------------------ building
build_kernel() {   # sets KDIR KVER VMLINUX
  local pkg=${IPVSVM_KPKG:-}
  if [[ -z $pkg ]]; then
    if [[ -e $CACHE/current-kpkg ]]; then pkg=$(cat "$CACHE/current-kpkg")
    else
      pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
      [[ -n $pkg ]] || die "cannot resolve kernel package (set IPVSVM_KPKG)"
    fi
  fi
  KDIR=$CACHE/$pkg
  if [[ ! -e $KDIR/.extracted ]]; then
    mkdir -p "$CACHE/dl"
    ( cd "$CACHE/dl" && apt-get download "$pkg" >&2 ) || die "apt-get download $pkg failed"
    rm -rf "$KDIR"; mkdir -p "$KDIR"
    dpkg -x "$CACHE"/dl/"${pkg}"_*.deb "$KDIR/root" || die "dpkg -x failed"
    rm -f "$CACHE"/dl/"${pkg}"_*.deb
    touch "$KDIR/.extracted"
  fi
  echo "$pkg" > "$CACHE/current-kpkg"
  KVER=${pkg#linux-image-}; KVER=${KVER%-unsigned}
  VMLINUX=$KDIR/vmlinux
  if [[ ! -s $VMLINUX ]]; then
    # Decompress bzImage -> ELF vmlinux: qemu boots it via the PVH entry point,
    # which skips the (very slow under TCG) in-guest XZ decompression.
    local bz=$KDIR/root/boot/vmlinuz-$KVER off
    off=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$bz" | head -1 | cut -d: -f1 || true)
    [[ -n $off ]] || die "no xz payload in $bz"
    tail -c +$((off + 1)) "$bz" | xz -dc --single-stream > "$VMLINUX.tmp" 2>/dev/null || true
    [[ $(head -c4 "$VMLINUX.tmp" | od -An -tx1 | tr -d ' ') == 7f454c46 ]] || die "vmlinux extraction failed"
    mv "$VMLINUX.tmp" "$VMLINUX"
  fi
}

build_initrd() {   # sets INITRD
  local key; key=$(printf '%s\n%s\n%s\n%s\n' "$GUEST_INIT" "$BOOT_MODULES" "$EXTRA_MODULES_GLOB" "$(ls -l /usr/bin/busybox /usr/sbin/ipvsadm 2>/dev/null)" | sha1sum | cut -c1-12)
  INITRD=$KDIR/initrd-$key.cpio
  [[ -s $INITRD && -z ${IPVSVM_REBUILD:-} ]] && return 0
  command -v cpio > /dev/null || die "cpio missing (apt-get install cpio)"
  local bb=/usr/bin/busybox
  if ! file -L "$bb" 2>/dev/null | grep 'statically linked' > /dev/null; then
    bb=$CACHE/busybox-static/bin/busybox
    if [[ ! -x $bb ]]; then
      mkdir -p "$CACHE/dl" && ( cd "$CACHE/dl" && apt-get download busybox-static >&2 ) || die "need busybox-static"
      dpkg -x "$CACHE"/dl/busybox-static_*.deb "$CACHE/busybox-static.x" || die "dpkg -x busybox-static failed"
      mkdir -p "${bb%/*}" && cp "$(find "$CACHE/busybox-static.x" -name busybox -type f | head -1)" "$bb" || die "no busybox"
    fi
  fi
  local st; st=$(mktemp -d "$KDIR/stage.XXXX")
  local src=$KDIR/root/lib/modules/$KVER dst=$st/lib/modules/$KVER
  mkdir -p "$st"/{bin,sbin,etc,proc,sys,dev,tmp,run,host,usr/bin,usr/sbin} "$dst"
  cp "$bb" "$st/bin/busybox"
  ln -s ../bin/busybox "$st/sbin/modprobe"
  # module name -> relative path
  declare -A MP=()
  local p n
  while read -r p; do n=${p##*/}; n=${n%%.ko*}; MP[${n//-/_}]=$p; done < <(cd "$src" && find kernel -name '*.ko*')
  declare -A SEEN=()
  local -a ORDER=()
  stage_mod() {  # copy (decompressing .ko.xz/.ko.zst/.ko.gz) and echo staged rel path
    local rel=$1 out=${1%.xz}; out=${out%.zst}; out=${out%.gz}
    mkdir -p "$dst/${out%/*}"
    case $rel in
      *.xz) xz -dc "$src/$rel" > "$dst/$out" ;;
      *.zst) zstd -qdc "$src/$rel" > "$dst/$out" ;;
      *.gz) gzip -dc "$src/$rel" > "$dst/$out" ;;
      *) cp "$src/$rel" "$dst/$out" ;;
    esac
    STAGED=$out
  }
  visit() {      # stage module + its dependencies
    local n=${1//-/_} rel d deps
    [[ -n ${SEEN[$n]:-} ]] && return 0
    SEEN[$n]=1
    rel=${MP[$n]:-}
    if [[ -z $rel ]]; then
      tr '-' '_' < "$src/modules.builtin" | grep "/$n\.ko" > /dev/null && return 0
      die "module $n neither a module nor built in"
    fi
    stage_mod "$rel"; local staged=$STAGED
    deps=$(tr '\0' '\n' < "$dst/$staged" | grep -a '^depends=' | head -1 | cut -d= -f2 || true)
    for d in ${deps//,/ }; do visit "$d"; done
    return 0
  }
  for n in $BOOT_MODULES; do visit "$n"; done
  # on-demand modules (deps staged, not loaded at boot)
  local g
  for g in $EXTRA_MODULES_GLOB; do
    for p in $(cd "$src" && ls $g 2>/dev/null); do n=${p##*/}; visit "${n%%.ko*}"; done
  done
  # load order for the boot set: dependencies first (insmod does not resolve)
  SEEN=()
  visit_boot() {
    local n=${1//-/_} rel d deps staged
    [[ -n ${SEEN[$n]:-} ]] && return 0
    SEEN[$n]=1; rel=${MP[$n]:-}; [[ -z $rel ]] && return 0
    staged=${rel%.xz}; staged=${staged%.zst}; staged=${staged%.gz}
    deps=$(tr '\0' '\n' < "$dst/$staged" | grep -a '^depends=' | head -1 | cut -d= -f2 || true)
    for d in ${deps//,/ }; do visit_boot "$d"; done
    case $n in dummy) staged+=" numdummies=0" ;; esac
    ORDER+=("$staged")
  }
  for n in $BOOT_MODULES; do visit_boot "$n"; done
  printf '%s\n' "${ORDER[@]}" > "$st/etc/modules.boot"
  cp "$src/modules.builtin" "$src/modules.order" "$dst/" 2>/dev/null || true
  [[ -e $src/modules.builtin.modinfo ]] && cp "$src/modules.builtin.modinfo" "$dst/"
  "$st/bin/busybox" depmod -b "$st" "$KVER" || die "depmod failed"
  # ipvsadm + shared libs, for the in-initramfs selftest only
  if [[ -x /usr/sbin/ipvsadm ]]; then
    cp /usr/sbin/ipvsadm "$st/usr/sbin/"
    local lib
    for lib in $(ldd /usr/sbin/ipvsadm | grep -o '/[^ ]*'); do
      mkdir -p "$st${lib%/*}"; cp -L "$lib" "$st$lib"
    done
  fi
  printf '%s\n' "$GUEST_INIT" > "$st/init"; chmod 755 "$st/init"
  ( cd "$st" && find . | LC_ALL=C sort | cpio -o -H newc --quiet ) > "$INITRD.tmp"
  mv "$INITRD.tmp" "$INITRD"
  # Keep a few other variants (~7 MB each): checkouts with a different module list share this
  # cache and would otherwise rebuild each other's initramfs on every call.
  ls -t "$KDIR"/initrd-*.cpio 2>/dev/null | tail -n +5 | xargs -r rm -f
  rm -rf "$st"
}

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | cut -c3- >&2; exit 2; }
[[ $# -gt 0 ]] || usage
case $1 in -h|--help) usage ;; esac

mkdir -p "$CACHE" "$BASE/runs"
exec 9> "$CACHE/.lock"
flock 9
build_kernel
build_initrd
flock -u 9
exec 9>&-

[[ $1 == --build ]] && { echo "ipvs-vm: cached $VMLINUX $INITRD" >&2; exit 0; }

# ------------------------------------------------------------------ running
RUN=$(mktemp -d "$BASE/runs/run.XXXXXX")
cleanup() { [[ -n ${IPVSVM_KEEP:-} ]] || rm -rf "$RUN"; }
trap cleanup EXIT

if [[ $1 == -c ]]; then shift; set -- /bin/bash -c "$*"
elif [[ $# -eq 1 && ! -e $1 && $1 =~ [[:space:]\;\|\&\<\>\$\`\(\)\*\?\'\"] ]]; then set -- /bin/bash -c "$1"
fi
printf '%s\0' "$@" > "$RUN/argv"
env -0 > "$RUN/env"
pwd -P > "$RUN/cwd"
printf '%s\n' "$GUEST_WRAPPER" > "$RUN/wrapper.sh"

# Guest TSC under TCG = host TSC.  microvm has no HPET/ACPI-PM timer, so if the
# PIT calibration is disturbed (loaded host) the guest kernel marks the TSC
# unstable and hangs in early boot; passing tsc_early_khz avoids that (and the
# calibration time).  Without a known TSC rate, use the (slower) pc machine.
tsc_khz() {
  local mhz
  [[ -n ${IPVSVM_TSC_KHZ:-} ]] && { echo "$IPVSVM_TSC_KHZ"; return; }
  grep -qw constant_tsc /proc/cpuinfo || return 0
  mhz=$(dmesg 2>/dev/null | sed -n 's/.*tsc: Refined TSC clocksource calibration: \([0-9.]*\) MHz.*/\1/p' | tail -1)
  [[ -n $mhz ]] || mhz=$(dmesg 2>/dev/null | sed -n 's/.*tsc: Detected \([0-9.]*\) MHz.*/\1/p' | tail -1)
  [[ -n $mhz ]] || ! grep -qw hypervisor /proc/cpuinfo || mhz=$(awk -F': *' '/^cpu MHz/{print $2; exit}' /proc/cpuinfo)
  [[ -n $mhz ]] && awk -v m="$mhz" 'BEGIN{printf "%d\n", m*1000}'
  return 0
}
TSC_KHZ=
[[ $ACCEL == tcg ]] && TSC_KHZ=$(tsc_khz)
MACHINE=${IPVSVM_MACHINE:-$([[ -n $TSC_KHZ || $ACCEL != tcg ]] && echo microvm || echo pc)}
case $MACHINE in microvm*) VDEV=device ;; *) VDEV=pci ;; esac
QARGS=(-nodefaults -no-user-config -display none -monitor none -no-reboot
  -M "$MACHINE" -m "$MEM" -smp "$SMP"
  -kernel "$VMLINUX" -initrd "$INITRD"
  -serial "file:$RUN/console.log"
  -fsdev "local,id=fsroot,path=/,security_model=none,readonly=on,multidevs=remap"
  -device virtio-9p-$VDEV,fsdev=fsroot,mount_tag=hostroot
  -fsdev "local,id=fsrun,path=$RUN,security_model=none,multidevs=remap"
  -device virtio-9p-$VDEV,fsdev=fsrun,mount_tag=ipvsvmrun
  -device virtio-serial-$VDEV)
case $ACCEL in
  kvm) QARGS+=(-accel kvm -cpu host) ;;
  # +arat: an always-running LAPIC timer, so the guest can run it one-shot (high-resolution
  # timers); without it the guest ticks every 4 ms and every timer is rounded up to a tick.
  *) QARGS+=(-accel tcg -cpu "${IPVSVM_CPU:-qemu64,+ssse3,+sse4.1,+sse4.2,+popcnt,+arat}") ;;
esac
i=0; SHARESPEC=
for d in $SHARES; do
  [[ -d $d ]] || continue
  d=$(cd "$d" && pwd -P)
  QARGS+=(-fsdev "local,id=fsrw$i,path=$d,security_model=none,multidevs=remap"
          -device "virtio-9p-$VDEV,fsdev=fsrw$i,mount_tag=rw$i")
  SHARESPEC+="${SHARESPEC:+,}rw$i:$d"; i=$((i + 1))
done
# Guest stdout/stderr -> virtio-serial ports -> pipes -> cat -> our fds 1/2.
# (Letting qemu open /proc/self/fd/1 itself would create a new open file
# description: with stdout redirected to a regular file, the caller's later
# writes would then overwrite the guest output.)
exec {OUTFD}> >(exec cat); OUTPID=$!
exec {ERRFD}> >(exec cat >&2); ERRPID=$!
QARGS+=(-chardev "file,id=cout,path=/proc/self/fd/$OUTFD,append=on" -device virtserialport,chardev=cout,name=out
        -chardev "file,id=cerr,path=/proc/self/fd/$ERRFD,append=on" -device virtserialport,chardev=cerr,name=err)
APPEND="console=ttyS0 quiet panic=-1 cryptomgr.notests i8042.noaux i8042.nokbd i8042.nopnp ipvsvm_shares=$SHARESPEC"
[[ -n $TSC_KHZ ]] && APPEND+=" tsc_early_khz=$TSC_KHZ"
# Under TCG the guest TSC follows the host clock; it is the timer ticks that get lost on a
# loaded host, and the clocksource watchdog would then blame the TSC and fall back to jiffies
# (a 4 ms clock that runs slow, and no high-resolution timers).
[[ $ACCEL == tcg ]] && APPEND+=" tsc=reliable"
[[ $VDEV == device ]] && APPEND+=" pci=off"
[[ -n ${IPVSVM_SELFTEST:-} ]] && APPEND+=" ipvsvm_selftest=1"
APPEND+=" ${IPVSVM_APPEND:-}"

# (timeout puts qemu in its own process group, so forward ^C/TERM ourselves)
timeout -k 5 "$TIMEOUT" qemu-system-x86_64 "${QARGS[@]}" -append "$APPEND" < /dev/null &
QPID=$!
INTR=
trap 'INTR=1; kill -TERM "$QPID" 2>/dev/null' INT TERM HUP
while :; do
  qrc=0; wait "$QPID" || qrc=$?
  kill -0 "$QPID" 2>/dev/null || break
done
trap - INT TERM HUP
exec {OUTFD}>&- {ERRFD}>&-
wait "$OUTPID" "$ERRPID" 2>/dev/null || true
if [[ -s $RUN/rc ]]; then
  exit "$(cat "$RUN/rc")"
fi
[[ -n $INTR ]] && { echo "ipvs-vm: interrupted" >&2; exit 130; }
if [[ $qrc -eq 124 || $qrc -eq 137 ]]; then
  echo "ipvs-vm: VM timed out after ${TIMEOUT}s; console log tail:" >&2; tail -n 40 "$RUN/console.log" >&2; exit 124
fi
echo "ipvs-vm: VM ended without an exit status (qemu rc=$qrc); console log tail:" >&2
tail -n 40 "$RUN/console.log" >&2 || true
exit 125
