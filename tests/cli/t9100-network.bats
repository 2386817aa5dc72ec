#!/usr/bin/env bats
# The NAT network, softnet isolation and `tart ip`'s resolvers, each test in
# a network namespace of its own (created and deleted here) with its own
# TART_NETWORK_DIR, so the host's network is never touched.  Guests are the
# tiny test guest under TCG.

load lib

setup_file() {
  export GUEST="${TART_TEST_GUEST:-$TOP/build/test-guest/guest.img}"
  if [ ! -f "$GUEST" ]; then
    "$TOP/tests/guest/build-guest.sh" "$(dirname "$GUEST")" >&3 2>&1
  fi
  [ -f "$GUEST" ]
}

setup() {
  export TART_HOME="$BATS_TEST_TMPDIR/home"
  export HOME="$BATS_TEST_TMPDIR/user"
  mkdir -p "$HOME"
  unset TART_LOG
  [ "$(id -u)" -eq 0 ] || skip "needs root (network namespaces)"
  NS="tart-t$$-${BATS_TEST_NUMBER}"
  ip netns add "$NS"
  ip -n "$NS" link set lo up
  export TART_NETWORK_DIR="$BATS_TEST_TMPDIR/net"
  RUN_PIDS=()
  BG_PIDS=()
  EXTRA_NS=()
}

teardown() {
  local p
  for p in "${RUN_PIDS[@]}"; do
    kill -INT "$p" 2>/dev/null || true
  done
  for p in "${RUN_PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
  done
  for p in "${BG_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  if [ -n "${NS:-}" ]; then
    # dnsmasq is a daemon: deleting the namespace would not stop it.
    [ -f "$TART_NETWORK_DIR/dnsmasq.pid" ] && kill "$(cat "$TART_NETWORK_DIR/dnsmasq.pid")" 2>/dev/null || true
    ip netns del "$NS" 2>/dev/null || true
  fi
  for p in "${EXTRA_NS[@]}"; do ip netns del "$p" 2>/dev/null || true; done
}

# nst ARGS...: tart inside the test's namespace.
nst() {
  ip netns exec "$NS" "$TART" "$@"
}

# give_to_nobody: TART_HOME and HOME belong to nobody, who can reach them.
give_to_nobody() {
  chown -R nobody "$TART_HOME" "$HOME"
  local d=$BATS_TEST_TMPDIR
  while [ "$d" != / ]; do
    chmod o+x "$d"
    d=$(dirname "$d")
  done
}

make_guest() {
  local name=$1
  shift
  tart create "$name" --linux --from-image "$GUEST" --firmware bios "$@"
  tart set "$name" --cpu 1 --memory 384
}

# start NAME [run flags...]: tart run inside the namespace, in the background.
start() {
  local name=$1
  shift
  ip netns exec "$NS" "$TART" run "$name" --no-graphics "$@" >"$BATS_TEST_TMPDIR/run-$name.out" 2>&1 3>&- &
  RUN_PIDS+=($!)
}

# ready NAME: the guest has its lease and its agent answers.
ready() {
  local i
  for i in $(seq 120); do
    if grep -q GUEST-READY "$TART_HOME/vms/$1/logs/console.log" 2>/dev/null && tart exec "$1" /bin/true 2>/dev/null; then
      return 0
    fi
    sleep 1
  done
  echo "guest $1 not ready:" >&2
  cat "$BATS_TEST_TMPDIR/run-$1.out" >&2
  tail -5 "$TART_HOME/vms/$1/logs/console.log" >&2
  return 1
}

# serve WORD PORT [ADDR]: a python HTTP server answering WORD, in namespace
# $SERVE_NS (default: the test's).
serve() {
  local word=$1 port=$2 addr=${3:-0.0.0.0} ns=${SERVE_NS:-$NS}
  local dir="$BATS_TEST_TMPDIR/www-$word"
  mkdir -p "$dir"
  echo "$word" >"$dir/index.html"
  ip netns exec "$ns" "$PYTHON" -m http.server "$port" --bind "$addr" --directory "$dir" >/dev/null 2>&1 3>&- &
  BG_PIDS+=($!)
  for _ in $(seq 50); do
    ip netns exec "$ns" "$PYTHON" -c "import socket; socket.create_connection(('${addr/0.0.0.0/127.0.0.1}', $port), 1)" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

# fetch VM HOST PORT: the body the guest gets for GET / from HOST:PORT, with
# a 4 s connect timeout (busybox nc: the static busybox's wget crashes).
fetch() {
  tart exec "$1" /bin/sh -c "printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 4 $2 $3 2>/dev/null | sed '1,/^\r\$/d'"
}

# outside_ns: an "outside" namespace behind the test's namespace, on a veth
# pair: 10.99.0.2 and 10.98.0.2 (both private ranges), serving "outside" on
# port 8000.  Sets OUT.
outside_ns() {
  OUT="tart-o$$-${BATS_TEST_NUMBER}"
  ip netns add "$OUT"
  EXTRA_NS+=("$OUT")
  ip -n "$NS" link add vout type veth peer name vin netns "$OUT"
  ip -n "$NS" addr add 10.99.0.1/24 dev vout
  ip -n "$NS" addr add 10.98.0.1/24 dev vout
  ip -n "$NS" link set vout up
  ip -n "$OUT" link set lo up
  ip -n "$OUT" addr add 10.99.0.2/24 dev vin
  ip -n "$OUT" addr add 10.98.0.2/24 dev vin
  ip -n "$OUT" link set vin up
  ip -n "$OUT" route add default via 10.99.0.1
  SERVE_NS=$OUT serve outside 8000
}

@test "network up/status/set/down in a namespace: what is made, repaired and removed" {
  # A new namespace inherits the host's IPv4 forwarding (devconf_inherit_init_net
  # 0): start from off, to see down put it back.
  ip netns exec "$NS" sysctl -qw net.ipv4.ip_forward=0
  run --separate-stderr nst network status
  [ "$status" -eq 1 ]
  [[ "$output" == *"network:    not up"* ]]
  run nst network up
  [ "$status" -eq 0 ]
  [[ "$output" == *"NAT network tart0 is up: gateway 192.168.64.1/24"* ]]
  run nst network status --format json
  [ "$status" -eq 0 ]
  [ "$(json_eval "$output" '[d["up"], d["bridge"]["up"], d["dnsmasq"]["running"], d["firewall"], d["forwarding"], d["settings"]["leaseTime"]]')" = '[true, true, true, true, true, 600]' ]
  ip -n "$NS" -4 addr show dev tart0 | grep -q 'inet 192.168.64.1/24'
  ip netns exec "$NS" nft list table ip tart | grep -q 'ip saddr 192.168.64.0/24 ip daddr != 192.168.64.0/24 masquerade'
  # The leases say who had which address: the state is root's alone, and
  # dnsmasq runs unprivileged.
  [ "$(stat -c %a "$TART_NETWORK_DIR")" = 700 ]
  [ "$(ps -o user= -p "$(cat "$TART_NETWORK_DIR/dnsmasq.pid")")" != root ]
  [ "$(ip netns exec "$NS" cat /proc/sys/net/ipv4/ip_forward)" = 1 ]
  # Up again changes nothing; a dead dnsmasq is restarted.
  local pid
  pid=$(cat "$TART_NETWORK_DIR/dnsmasq.pid")
  nst network up
  [ "$(cat "$TART_NETWORK_DIR/dnsmasq.pid")" = "$pid" ]
  kill "$pid"
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  run nst network status
  [ "$status" -eq 1 ]
  [[ "$output" == *"dnsmasq not running"* ]]
  nst network up
  [ "$(cat "$TART_NETWORK_DIR/dnsmasq.pid")" != "$pid" ]
  nst network status
  # set: validated, kept, applied to the running network.
  run --separate-stderr nst network set --mask 255.0.255.0
  [ "$status" -eq 64 ]
  run --separate-stderr nst network set
  [ "$status" -eq 64 ]
  run --separate-stderr nst network up --format json
  [ "$status" -eq 64 ]
  nst network set --address 192.168.77.1 --lease-time 300
  ip -n "$NS" -4 addr show dev tart0 | grep -q 'inet 192.168.77.1/24'
  ip netns exec "$NS" nft list table ip tart | grep -q 'ip saddr 192.168.77.0/24'
  grep -q 'dhcp-range=192.168.77.2,192.168.77.254,255.255.255.0,300' "/proc/$(cat "$TART_NETWORK_DIR/dnsmasq.pid")/cmdline" 2>/dev/null ||
    tr '\0' ' ' <"/proc/$(cat "$TART_NETWORK_DIR/dnsmasq.pid")/cmdline" | grep -q 'dhcp-range=192.168.77.2,192.168.77.254,255.255.255.0,300'
  [ "$(json_eval "$(cat "$TART_NETWORK_DIR/settings.json")" '[d["address"], d["leaseTime"]]')" = '["192.168.77.1", 300]' ]
  # down removes what up made, and forwarding goes back off.
  pid=$(cat "$TART_NETWORK_DIR/dnsmasq.pid")
  nst network down
  ! ip -n "$NS" link show tart0 2>/dev/null
  ! ip netns exec "$NS" nft list table ip tart 2>/dev/null
  [ "$(ip netns exec "$NS" cat /proc/sys/net/ipv4/ip_forward)" = 0 ]
  ! kill -0 "$pid" 2>/dev/null
  run nst network down
  [ "$status" -eq 0 ]
}

@test "two VMs on the NAT network: distinct leases, three resolvers agree, the gateway's services answer, leases released at stop; a new subnet" {
  make_guest a
  make_guest b
  nst network up
  serve gateway-hello 8001 192.168.64.1
  start a
  start b
  ready a
  ready b
  run nst ip a --wait 30
  [ "$status" -eq 0 ]
  local ipa=$output
  run nst ip b --wait 30
  local ipb=$output
  [[ "$ipa" == 192.168.64.* ]] && [[ "$ipb" == 192.168.64.* ]] && [ "$ipa" != "$ipb" ]
  [ "$(nst ip a --resolver dhcp)" = "$ipa" ]
  [ "$(nst ip a --resolver agent)" = "$ipa" ]
  # ARP needs traffic from the guest: the fetch below makes some.
  [ "$(fetch a 192.168.64.1 8001)" = gateway-hello ]
  [ "$(nst ip a --resolver arp --wait 5)" = "$ipa" ]
  [ "$(json_eval "$(cat "$TART_HOME/vms/a/net.json")" 'd["mode"]')" = nat ]
  # NAT VMs see each other.
  tart exec b /bin/sh -c 'mkdir -p /tmp/www && echo from-b >/tmp/www/index.html && httpd -p 8081 -h /tmp/www'
  [ "$(fetch a $ipb 8081)" = from-b ]
  # Settings do not move under running VMs.
  run --separate-stderr nst network set --lease-time 300
  [ "$status" -eq 1 ]
  [[ "$stderr" == *"VMs are running on the NAT network (tart0): stop them"* ]]
  # Stop: the lease goes, and so does the tap.
  grep -q " $ipa " "$TART_NETWORK_DIR/dnsmasq.leases"
  nst stop a
  ! grep -q " $ipa " "$TART_NETWORK_DIR/dnsmasq.leases"
  run --separate-stderr nst ip a --resolver dhcp
  [ "$status" -eq 1 ]
  [[ "$stderr" == *"no IP address found"* ]]
  [ "$(ip -n "$NS" -o link show master tart0 | wc -l)" -eq 1 ]
  # Delete of a VM that was killed releases its lease too.
  kill -9 "${RUN_PIDS[1]}"
  for _ in $(seq 50); do nst list | grep -q 'b .*running' || break; sleep 0.1; done
  grep -q " $ipb " "$TART_NETWORK_DIR/dnsmasq.leases"
  nst delete b
  ! grep -q " $ipb " "$TART_NETWORK_DIR/dnsmasq.leases"
  # A new subnet: new leases come from it.
  nst network set --address 192.168.77.1
  start a
  ready a
  run nst ip a --wait 30
  [[ "$output" == 192.168.77.* ]]
}

@test "softnet: no host services, no other VM, no private ranges, the allowed outside host, exposed ports, spoofing gets nothing" {
  # 10.99.0.2 is allowed, 10.98.0.2 is not.
  outside_ns
  local out=$OUT
  serve host-service 8001
  make_guest iso
  make_guest peer
  start iso --net-softnet --net-softnet-allow 10.99.0.0/24 --net-softnet-expose 8080:80
  start peer
  ready iso
  ready peer
  local ipi ipp
  ipi=$(nst ip iso --wait 30)
  ipp=$(nst ip peer --wait 30)
  [ "$(json_eval "$(cat "$TART_HOME/vms/iso/net.json")" 'd["mode"]')" = softnet ]
  tart exec peer /bin/sh -c 'mkdir -p /tmp/www && echo from-peer >/tmp/www/index.html && httpd -p 8081 -h /tmp/www'
  # The NAT peer reaches everything; the isolated guest only the allowed host.
  [ "$(fetch peer 192.168.64.1 8001)" = host-service ]
  [ "$(fetch peer 10.98.0.2 8000)" = outside ]
  [ "$(fetch iso 10.99.0.2 8000)" = outside ]
  run fetch iso 10.98.0.2 8000
  [ -z "$output" ]
  run fetch iso 192.168.64.1 8001
  [ -z "$output" ]
  run fetch iso $ipp 8081
  [ -z "$output" ]
  # A DNAT rule of the host's own (docker -p style) to a blocked address is
  # no way around the rules.
  ip netns exec "$NS" nft -f - <<'NFT'
table ip hostdnat {
  chain pre {
    type nat hook prerouting priority dstnat;
    tcp dport 9090 dnat to 10.98.0.2:8000
  }
}
NFT
  [ "$(fetch peer 192.168.64.1 9090)" = outside ]
  run fetch iso 192.168.64.1 9090
  [ -z "$output" ]
  ip netns exec "$NS" nft delete table ip hostdnat
  # Claiming the peer's address with gratuitous ARP does not move the host's
  # neighbour entry.
  local isomac
  isomac=$(json_eval "$(cat "$TART_HOME/vms/iso/config.json")" 'd["macAddress"]')
  tart exec iso /bin/sh -c "arping -c 2 -U -s $ipp -I eth0 $ipp >/dev/null 2>&1; true"
  ! ip -n "$NS" neigh show "$ipp" | grep -qi "$isomac"
  # DNS on the gateway still works for it (dnsmasq answers its own name).
  tart exec iso /bin/sh -c 'nslookup localhost 192.168.64.1 | grep -q 127.0.0.1'
  # Exposed: host port 8080 reaches the guest's port 80, from the host and from outside.
  tart exec iso /bin/sh -c 'mkdir -p /tmp/www && echo exposed >/tmp/www/index.html && httpd -p 80 -h /tmp/www'
  [ "$(ip netns exec "$NS" curl -s -m 5 http://192.168.64.1:8080/)" = exposed ]
  [ "$(ip netns exec "$out" curl -s -m 5 http://10.99.0.1:8080/)" = exposed ]
  # ... but the other VM cannot reach it, nor can the host directly.
  [ "$(fetch iso 127.0.0.1 80)" = exposed ]
  run fetch peer "$ipi" 80
  [ -z "$output" ]
  # Spoofing another source address: nothing gets through any more.
  tart exec iso /bin/sh -c "ip addr flush dev eth0 && ip addr add 192.168.64.250/24 dev eth0 && ip route add default via 192.168.64.1"
  run fetch iso 10.99.0.2 8000
  [ -z "$output" ]
  # Stop: its tables and its lease are gone.
  ip netns exec "$NS" nft list tables | grep -q "tart_"
  nst stop iso --timeout 0
  ! ip netns exec "$NS" nft list tables | grep -q "tart_"
  ! grep -q " $ipi " "$TART_NETWORK_DIR/dnsmasq.leases"
}

@test "--net-host: the guest reaches the host's services and nothing beyond; its rules go with it" {
  outside_ns
  serve host-service 8001
  make_guest vm
  start vm --net-host
  ready vm
  [ "$(json_eval "$(cat "$TART_HOME/vms/vm/net.json")" 'd["mode"]')" = host ]
  nst ip vm --wait 30
  [ "$(fetch vm 192.168.64.1 8001)" = host-service ]
  [ "$(fetch vm 10.99.0.1 8001)" = host-service ]
  run fetch vm 10.99.0.2 8000
  [ -z "$output" ]
  nst stop vm --timeout 0
  ! ip netns exec "$NS" nft list tables | grep -q "tart_"
}

@test "run flags: mutually exclusive modes, unknown bridged interface, --net-user-forward needs --net-user" {
  make_guest vm
  run --separate-stderr nst run vm --net-softnet --net-host
  [ "$status" -eq 64 ]
  [ "$stderr" = "tart: error: --net-bridged, --net-softnet and --net-host are mutually exclusive" ]
  run --separate-stderr nst run vm --net-bridged eth9 --net-softnet-allow 10.0.0.0/8
  [ "$status" -eq 64 ]
  run --separate-stderr nst run vm --net-user --net-host
  [ "$status" -eq 64 ]
  run --separate-stderr nst run vm --net-softnet-allow 10.0.0.300/8
  [ "$status" -eq 64 ]
  run --separate-stderr nst run vm --net-user-forward 2222:22
  [ "$status" -eq 64 ]
  [[ "$stderr" == *"--net-user-forward needs --net-user"* ]]
  run --separate-stderr nst run vm --no-graphics --net-bridged nosuch0
  [ "$status" -eq 64 ]
  [[ "$stderr" == *'interface "nosuch0" not found, available interfaces:'* ]]
  run nst run vm --net-bridged list
  [ "$status" -eq 0 ]
  # Nothing was left behind by the refused runs.
  [ ! -e "$TART_HOME/vms/vm/net.json" ]
  [ "$(ip -n "$NS" -o link | grep -c tart)" -eq 0 ]
}

@test "bridged on a NIC: a macvtap peer of the uplink gets the outside's lease; removed at stop" {
  # The "NIC" is a veth whose other end is an outside network with its own DHCP.
  local out="tart-o$$-${BATS_TEST_NUMBER}"
  ip netns add "$out"
  EXTRA_NS+=("$out")
  ip -n "$NS" link add uplink type veth peer name lan netns "$out"
  ip -n "$NS" link set uplink up
  ip -n "$out" link set lo up
  ip -n "$out" addr add 10.66.0.1/24 dev lan
  ip -n "$out" link set lan up
  ip netns exec "$out" dnsmasq --conf-file=/dev/null --bind-interfaces --interface=lan --except-interface=lo --port=0 \
    --dhcp-range=10.66.0.10,10.66.0.20,255.255.255.0,600 --dhcp-leasefile="$BATS_TEST_TMPDIR/lan.leases" --no-ping \
    --pid-file="$BATS_TEST_TMPDIR/lan.pid" --user=root --group=root
  BG_PIDS+=("$(cat "$BATS_TEST_TMPDIR/lan.pid")")
  make_guest vm
  start vm --net-bridged uplink
  ready vm
  run nst ip vm --resolver agent --wait 10
  [ "$status" -eq 0 ]
  [[ "$output" == 10.66.0.* ]]
  grep -q " $output " "$BATS_TEST_TMPDIR/lan.leases"
  tart exec vm /bin/sh -c 'ping -c 1 -W 2 10.66.0.1 >/dev/null'
  ip -n "$NS" -o link | grep -q 'tmv.*macvtap\|tmv'
  nst stop vm --timeout 0
  ! ip -n "$NS" -o link | grep -q tmv
}

@test "a user without the NAT network's permission gets one line naming both fixes" {
  make_guest vm
  give_to_nobody
  run --separate-stderr ip netns exec "$NS" setpriv --reuid=nobody --regid=nogroup --clear-groups \
    env TART_HOME="$TART_HOME" HOME="$HOME" "$TART" run vm --no-graphics
  [ "$status" -eq 1 ]
  [ "$stderr" = "tart: error: the NAT network needs root: run \`sudo tart network up --allow-users\` (which allows tart0 in /etc/qemu/bridge.conf for qemu-bridge-helper), or use --net-user" ] || {
    echo "$stderr" >&2
    false
  }
  [ ! -e "$TART_HOME/vms/vm/net.json" ]
}

@test "a user allowed in bridge.conf runs on the NAT network through a setuid qemu-bridge-helper" {
  # `network up --allow-users` on a copy of the helper and an empty
  # /etc/qemu, seen only in a mount namespace of the test's (the host's files
  # and dpkg's database stay as they are: a failing dpkg-statoverride makes
  # it fall back to chmod).
  cp /usr/lib/qemu/qemu-bridge-helper "$BATS_TEST_TMPDIR/helper"
  chmod 0755 "$BATS_TEST_TMPDIR/helper"
  mkdir -p "$BATS_TEST_TMPDIR/etc-qemu" "$BATS_TEST_TMPDIR/fakebin"
  printf '#!/bin/sh\nexit 2\n' >"$BATS_TEST_TMPDIR/fakebin/dpkg-statoverride"
  chmod +x "$BATS_TEST_TMPDIR/fakebin/dpkg-statoverride"
  run ip netns exec "$NS" unshare -m sh -c "
    mount --bind '$BATS_TEST_TMPDIR/helper' /usr/lib/qemu/qemu-bridge-helper &&
    mount --bind '$BATS_TEST_TMPDIR/etc-qemu' /etc/qemu &&
    PATH='$BATS_TEST_TMPDIR/fakebin':\$PATH exec '$TART' network up --allow-users"
  [ "$status" -eq 0 ]
  [[ "$output" == *"made /usr/lib/qemu/qemu-bridge-helper setuid root"* ]]
  [[ "$output" == *"allowed tart0 in /etc/qemu/bridge.conf"* ]]
  [ "$(stat -c %a "$BATS_TEST_TMPDIR/helper")" = 4755 ]
  grep -qx 'allow tart0' "$BATS_TEST_TMPDIR/etc-qemu/bridge.conf"
  # The helper opens /dev/net/tun as the user: 0666 on a standard system,
  # maybe not in a container; a node of our own with that mode stands in.
  mknod -m 666 "$BATS_TEST_TMPDIR/tun" c 10 200
  make_guest vm
  give_to_nobody
  ip netns exec "$NS" unshare -m sh -c "
    mount --bind '$BATS_TEST_TMPDIR/helper' /usr/lib/qemu/qemu-bridge-helper &&
    mount --bind '$BATS_TEST_TMPDIR/etc-qemu' /etc/qemu &&
    mount --bind '$BATS_TEST_TMPDIR/tun' /dev/net/tun &&
    exec setpriv --reuid=nobody --regid=nogroup --clear-groups \
      env TART_HOME='$TART_HOME' HOME='$HOME' '$TART' run vm --no-graphics" >"$BATS_TEST_TMPDIR/run-vm.out" 2>&1 3>&- &
  RUN_PIDS+=($!)
  ready vm
  [ "$(ps -o user= -p "$(pgrep -f 'guest=tart-vm' | head -1)")" = nobody ]
  run nst ip vm --wait 30
  [ "$status" -eq 0 ]
  [[ "$output" == 192.168.64.* ]]
  [ "$(ip -n "$NS" -o link show master tart0 | wc -l)" -eq 1 ]
  nst stop vm
}

@test "bridged: a tap on an existing bridge gets its lease from that bridge's DHCP server" {
  ip -n "$NS" link add br9 type bridge
  ip -n "$NS" addr add 10.77.0.1/24 dev br9
  ip -n "$NS" link set br9 up
  ip netns exec "$NS" dnsmasq --conf-file=/dev/null --bind-interfaces --interface=br9 --except-interface=lo --port=0 \
    --dhcp-range=10.77.0.10,10.77.0.20,255.255.255.0,600 --dhcp-leasefile="$BATS_TEST_TMPDIR/br9.leases" --no-ping \
    --pid-file="$BATS_TEST_TMPDIR/br9.pid" --user=root --group=root
  BG_PIDS+=("$(cat "$BATS_TEST_TMPDIR/br9.pid")")
  make_guest vm
  start vm --net-bridged br9
  ready vm
  tart exec vm /bin/sh -c 'ping -c 1 -W 2 10.77.0.1 >/dev/null'
  run nst ip vm --wait 10
  [ "$status" -eq 0 ]
  [[ "$output" == 10.77.0.* ]]
  [ "$(nst ip vm --resolver agent)" = "$output" ]
  [ "$(json_eval "$(cat "$TART_HOME/vms/vm/net.json")" 'd["mode"]')" = bridged ]
  # The NAT network was not brought up for it.
  ! ip -n "$NS" link show tart0 2>/dev/null
}
