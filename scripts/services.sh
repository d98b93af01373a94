#!/usr/bin/env bash
# Makes sure PostgreSQL, RabbitMQ and Redis answer on 127.0.0.1 and creates what sethub needs in
# them (the migration and runtime roles, the default database). Starts any that is down with the commands
# this machine kind uses (Debian packages, no systemd). Safe to run again.
set -euo pipefail

say() { printf '[services] %s\n' "$*"; }
die() { printf '[services] ERROR: %s\n' "$*" >&2; exit 1; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() { # name seconds command...
  local name=$1 secs=$2; shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || die "$name did not come up within ${secs}s"
    sleep 0.5
  done
}

# --- PostgreSQL ---------------------------------------------------------------------------
if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  command -v pg_ctlcluster >/dev/null || die "PostgreSQL is not installed: apt-get install postgresql"
  say "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -n1)" main start
  wait_for PostgreSQL 60 pg_isready -h 127.0.0.1 -p 5432 -q
fi
say "PostgreSQL ready"
PSQL=(psql -v ON_ERROR_STOP=1 -q -h 127.0.0.1 -U postgres -d postgres)
# Two roles, neither able to bypass row-level security:
# - sethub_owner owns the database, its schema and tables; migrations run as it
#   (`database.migrate_url`) and then grant the runtime role its rights;
# - sethub_app is the services' runtime role (`database.url`): table rights only, owns
#   nothing, so it cannot turn row-level security off.
"${PSQL[@]}" <<'SQL'
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'sethub_owner') THEN
    CREATE ROLE sethub_owner LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEROLE NOCREATEDB;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'sethub_app') THEN
    CREATE ROLE sethub_app LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEROLE NOCREATEDB;
  END IF;
END $$;
ALTER ROLE sethub_owner NOSUPERUSER NOBYPASSRLS;
ALTER ROLE sethub_app NOSUPERUSER NOBYPASSRLS;
SQL
if ! "${PSQL[@]}" -tAc "SELECT 1 FROM pg_database WHERE datname = 'sethub'" | grep -q 1; then
  "${PSQL[@]}" -c "CREATE DATABASE sethub OWNER sethub_owner"
fi
# A database made by an earlier version of this script belongs to sethub_app: hand it and
# its tables to sethub_owner (the next migration grants sethub_app its rights back).
"${PSQL[@]}" -c "ALTER DATABASE sethub OWNER TO sethub_owner"
psql -v ON_ERROR_STOP=1 -q -h 127.0.0.1 -U postgres -d sethub <<'SQL'
DO $$ DECLARE t record; BEGIN
  FOR t IN SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
             AND c.relowner = 'sethub_app'::regrole LOOP
    EXECUTE format('ALTER TABLE public.%I OWNER TO sethub_owner', t.relname);
  END LOOP;
END $$;
SQL

# --- Redis ----------------------------------------------------------------------------------
if ! redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; then
  command -v redis-server >/dev/null || die "Redis is not installed: apt-get install redis-server"
  say "starting Redis"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  wait_for Redis 30 sh -c 'redis-cli -h 127.0.0.1 -p 6379 ping | grep -q PONG'
fi
say "Redis ready"

# --- RabbitMQ -------------------------------------------------------------------------------
# RabbitMQ sizes its file handle cache from the open-files limit it starts with (1024 by default
# here) and every quorum queue reserves handles in it. A test run declares hundreds of queues
# (each test hub its own); at the limit the broker stops completing AMQP handshakes (each new
# connection waits for a handle, forever). So it starts with the hard limit, and one already
# running with a low limit is restarted that way (its queues, and messages, survive).
rabbit_pid() { pgrep -f 'beam.smp.*rabbit boot' | head -n1; }
rabbit_nofile() { awk '/Max open files/ {print $4}' "/proc/$1/limits" 2>/dev/null || echo 0; }
start_rabbit() {
  command -v rabbitmq-server >/dev/null || die "RabbitMQ is not installed: apt-get install rabbitmq-server"
  if [ "$(id -u)" = 0 ] && id rabbitmq >/dev/null 2>&1 && [ -x /usr/lib/rabbitmq/bin/rabbitmq-server ]; then
    # Debian's wrapper runs it through `su`, which resets the limit: raise it as that user.
    (cd /var/lib/rabbitmq && su rabbitmq -s /bin/sh -c \
      'ulimit -n "$(ulimit -Hn)"; exec /usr/lib/rabbitmq/bin/rabbitmq-server -detached')
  else
    (ulimit -n "$(ulimit -Hn)" 2>/dev/null || true; rabbitmq-server -detached)
  fi
  wait_for RabbitMQ 90 rabbitmqctl await_startup
}
pid=$(rabbit_pid || true)
if [ -n "$pid" ] && [ "$(rabbit_nofile "$pid")" -lt 10000 ] && [ "$(ulimit -Hn)" != "$(rabbit_nofile "$pid")" ]; then
  say "restarting RabbitMQ with the open-files limit $(ulimit -Hn) (it runs with $(rabbit_nofile "$pid"))..."
  timeout 60 rabbitmqctl stop >/dev/null 2>&1 || kill -9 "$pid" 2>/dev/null || true
  wait_for "RabbitMQ to stop" 60 sh -c "! kill -0 $pid"
  start_rabbit
elif ! port_open 5672; then
  say "starting RabbitMQ"
  start_rabbit
fi
wait_for RabbitMQ 90 port_open 5672
say "RabbitMQ ready"
