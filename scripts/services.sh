#!/usr/bin/env bash
# Make sure the local services Rialto's integration tests use are running:
#   PostgreSQL 127.0.0.1:5432 (trust auth, user postgres, database "test")
#   MariaDB    127.0.0.1:3306 (root, empty password, database "test")
#   Redis      127.0.0.1:6379
#   NATS       127.0.0.1:4222 with JetStream
# Idempotent and fast when everything is up. A service that is down is started with the same
# command the machine image uses; its Debian package is installed first if its binary is missing.
# Exits 1, naming the service, if one does not come up within $WAIT_SECONDS (default 30).
set -euo pipefail

WAIT_SECONDS=${WAIT_SECONDS:-30}
HOST=127.0.0.1

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1; then SUDO=(sudo); fi
fi

die() { echo "$*" >&2; exit 1; }

port_open() { # port
    timeout 1 bash -c "exec 3<>/dev/tcp/$HOST/$1" 2>/dev/null
}

wait_port() { # name port
    local name=$1 port=$2 deadline=$((SECONDS + WAIT_SECONDS))
    until port_open "$port"; do
        if ((SECONDS >= deadline)); then
            die "$name: FAILED: nothing is listening on $HOST:$port after ${WAIT_SECONDS}s"
        fi
        sleep 0.3
    done
}

APT_UPDATED=0
apt_install() { # package...
    if ((APT_UPDATED == 0)); then
        echo "apt-get update" >&2
        "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
        APT_UPDATED=1
    fi
    echo "apt-get install -y $*" >&2
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@" >&2
}

# Each ensure_<service> sets STATUS, and FRESH=1 when it installed the package.
STATUS=""
FRESH=0

# ---------------------------------------------------------------- PostgreSQL
# shellcheck disable=SC2012  # version directories are plain numbers
pg_version() { ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1; }

pg_trust_loopback() {
    local ver hba marker="# rialto: trust on loopback (scripts/services.sh)"
    ver=$(pg_version)
    hba=/etc/postgresql/$ver/main/pg_hba.conf
    if ! grep -qF "$marker" "$hba"; then
        # First matching line wins, so put the trust lines on top.
        local tmp
        tmp=$(mktemp)
        {
            echo "$marker"
            echo "local   all   all                  trust"
            echo "host    all   all   127.0.0.1/32   trust"
            echo "host    all   all   ::1/128        trust"
            cat "$hba"
        } >"$tmp"
        "${SUDO[@]}" cp "$tmp" "$hba"
        rm -f "$tmp"
        "${SUDO[@]}" pg_ctlcluster --skip-systemctl-redirect "$ver" main reload
    fi
}

ensure_postgres() {
    if port_open 5432; then
        STATUS="up (already running)"
    else
        if ! command -v pg_ctlcluster >/dev/null 2>&1 || [[ -z $(pg_version) ]]; then
            apt_install postgresql
            FRESH=1
        fi
        [[ -n $(pg_version) ]] || die "postgres: FAILED: no cluster under /etc/postgresql"
        "${SUDO[@]}" pg_ctlcluster --skip-systemctl-redirect "$(pg_version)" main start \
            || die "postgres: FAILED: pg_ctlcluster start failed (see /var/log/postgresql/)"
        wait_port postgres 5432
        STATUS="started"
    fi
    if ((FRESH)) || ! psql -h $HOST -U postgres -d postgres -Atqc 'select 1' >/dev/null 2>&1; then
        pg_trust_loopback
        STATUS+=", pg_hba trusts loopback"
        for _ in {1..20}; do
            psql -h $HOST -U postgres -d postgres -Atqc 'select 1' >/dev/null 2>&1 && break
            sleep 0.25
        done
    fi
    psql -h $HOST -U postgres -d postgres -Atqc 'select 1' >/dev/null \
        || die "postgres: FAILED: cannot connect as postgres to $HOST:5432 without a password"
    if [[ $(psql -h $HOST -U postgres -d postgres -Atqc \
        "select 1 from pg_database where datname = 'test'") != 1 ]]; then
        psql -h $HOST -U postgres -d postgres -qc 'create database test' \
            || die "postgres: FAILED: could not create database test"
        STATUS+=", created database test"
    fi
}

# ---------------------------------------------------------------- MariaDB
mariadb_tcp() { mariadb --protocol=tcp -h $HOST -P 3306 -uroot --connect-timeout=5 "$@"; }

ensure_mariadb() {
    if port_open 3306; then
        STATUS="up (already running)"
    else
        if [[ ! -x /usr/sbin/mariadbd ]]; then
            apt_install mariadb-server
            FRESH=1
        fi
        "${SUDO[@]}" install -d -o mysql -g mysql /run/mysqld
        "${SUDO[@]}" start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
        wait_port mariadb 3306
        STATUS="started"
    fi
    if ! mariadb_tcp -e 'select 1' >/dev/null 2>&1; then
        # A fresh Debian install lets root in only over the Unix socket (unix_socket auth).
        # Give root an empty password over TCP too, as the tests expect.
        "${SUDO[@]}" mariadb -uroot -e "
            ALTER USER root@localhost IDENTIFIED VIA mysql_native_password USING PASSWORD('')
                OR unix_socket;
            CREATE USER IF NOT EXISTS root@'127.0.0.1' IDENTIFIED BY '';
            GRANT ALL PRIVILEGES ON *.* TO root@'127.0.0.1' WITH GRANT OPTION;
            FLUSH PRIVILEGES;" \
            || die "mariadb: FAILED: could not configure root over the Unix socket"
        STATUS+=", root may log in over TCP with an empty password"
    fi
    mariadb_tcp -e 'select 1' >/dev/null \
        || die "mariadb: FAILED: cannot connect as root to $HOST:3306 with an empty password"
    if [[ -z $(mariadb_tcp -N -e "show databases like 'test'") ]]; then
        mariadb_tcp -e 'create database if not exists test' \
            || die "mariadb: FAILED: could not create database test"
        STATUS+=", created database test"
    fi
}

# ---------------------------------------------------------------- Redis
ensure_redis() {
    if port_open 6379; then
        STATUS="up (already running)"
        return
    fi
    if ! command -v redis-server >/dev/null 2>&1; then
        apt_install redis-server
        FRESH=1
    fi
    "${SUDO[@]}" install -d /var/lib/redis /var/log/redis
    "${SUDO[@]}" redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" \
        --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log >/dev/null
    wait_port redis 6379
    STATUS="started"
}

# ---------------------------------------------------------------- NATS
nats_info() { # prints the server's INFO line
    (
        exec 3<>"/dev/tcp/$HOST/4222" || exit 1
        IFS= read -r -t 2 line <&3 || exit 1
        printf '%s\n' "$line"
    ) 2>/dev/null
}

ensure_nats() {
    if port_open 4222; then
        STATUS="up (already running)"
    else
        if [[ ! -x /usr/sbin/nats-server ]]; then
            apt_install nats-server
            FRESH=1
        fi
        "${SUDO[@]}" install -d /var/lib/nats-server
        "${SUDO[@]}" start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server \
            -- -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
        wait_port nats 4222
        STATUS="started"
    fi
    local info
    info=$(nats_info) || die "nats: FAILED: no INFO from $HOST:4222"
    [[ $info == *'"jetstream":true'* ]] \
        || die "nats: FAILED: the server on $HOST:4222 does not have JetStream enabled (-js)"
}

for svc in postgres mariadb redis nats; do
    STATUS=""
    FRESH=0
    "ensure_$svc"
    if ((FRESH)); then STATUS="installed and $STATUS"; fi
    echo "$svc: $STATUS"
done
