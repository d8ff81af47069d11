#!/usr/bin/env bash
# Builds the Kubernetes, etcd, Prometheus, Alertmanager, prometheus-operator and Knative Eventing binaries the tests and playground run, from their Go modules, cached by version.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-v1.35.4}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.16}"
KSM_VERSION="${KSM_VERSION:-v2.18.0}"
PROMETHEUS_VERSION="${PROMETHEUS_VERSION:-v0.316.0}"
ALERTMANAGER_VERSION="${ALERTMANAGER_VERSION:-v0.35.0}"
PROMETHEUS_OPERATOR_VERSION="${PROMETHEUS_OPERATOR_VERSION:-v0.85.0}"
# Knative Eventing 1.20 (its module is versioned v0.x); the proxy refuses this module's version list: keep it pinned.
KNATIVE_EVENTING_VERSION="${KNATIVE_EVENTING_VERSION:-v0.47.0}"
# Knative Serving of the same release (1.20): only its Service CRD and roles, since Serving itself cannot run here.
KNATIVE_SERVING_VERSION="${KNATIVE_SERVING_VERSION:-v0.47.0}"
# Every configuration here discovers through kubernetes_sd_configs (static and file discovery are always built in):
# leaving out the cloud providers' discovery and their SDKs cuts Prometheus' build to a fraction. Empty: all of them.
PROMETHEUS_BUILD_TAGS="${PROMETHEUS_BUILD_TAGS-remove_all_sd,enable_kubernetes_sd}"

CACHE_ROOT="${SELFHEAL_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/selfheal}"
BIN_DIR="$CACHE_ROOT/bin"
WORK_DIR="$CACHE_ROOT/build"

say() { printf '[build-binaries %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { say "error: $*"; exit 1; }

# Go is needed only for what is not cached yet.
[ -x /usr/local/go/bin/go ] && ! command -v go >/dev/null 2>&1 && export PATH="/usr/local/go/bin:$PATH"
need_go() {
  command -v go >/dev/null 2>&1 ||
    die "Go is not installed (no 'go' on PATH nor /usr/local/go/bin/go), and $1 is not built yet: install Go 1.25+."
}
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-buildvcs=false

mkdir -p "$BIN_DIR" "$WORK_DIR"

# The targets not cached yet build at the same time: their downloads and module resolution (network and disk) overlap,
# while compiling and linking take one of SELFHEAL_BUILD_JOBS slots (default: one per two cores, since Go's compiler
# already uses every core one build is given). SELFHEAL_BUILD_SEQUENTIAL=1 builds one target after another instead.
JOBS="${SELFHEAL_BUILD_JOBS:-$(($(nproc 2>/dev/null || echo 2) / 2))}"
[[ "$JOBS" =~ ^[0-9]+$ ]] && [ "$JOBS" -ge 1 ] || JOBS=1

# Runs a command (a compile) in a free slot, waiting for one; while it waits, $WORK_DIR/$BUILD_LABEL.waiting exists.
in_slot() {
  local waiting="$WORK_DIR/${BUILD_LABEL:-build}.waiting" i status
  touch "$waiting"
  # Inside the slot: say how long it waited, then run the command.
  local enter='w=$(($(date +%s) - $1)); [ "$w" -lt 2 ] || echo "[build-binaries] waited ${w}s for a compile slot" >&2
    rm -f "$0"; shift; exec "$@"'
  local since; since=$(date +%s)
  while true; do
    for ((i = 1; i <= JOBS; i++)); do
      status=0
      # flock -E 75: a slot held by another build is told apart from the command's own failure.
      flock -n -E 75 "$WORK_DIR/slot-$i.lock" bash -c "$enter" "$waiting" "$since" "$@" || status=$?
      [ "$status" -eq 75 ] || return "$status"
    done
    sleep 1
  done
}

# Runs a long command while printing a heartbeat, so a cold build never looks hung.
with_progress() {
  local label="$1"; shift
  local started=$SECONDS log="$WORK_DIR/$label.log"
  rm -f "$WORK_DIR/$label.waiting"
  BUILD_LABEL="$label" "$@" >"$log" 2>&1 &
  local pid=$!
  local ticks=0 waited=0
  while kill -0 "$pid" 2>/dev/null; do
    sleep 1
    ticks=$((ticks + 1))
    # Waiting for a slot is said once and then every 5 minutes; building, every 30 seconds.
    if [ -e "$WORK_DIR/$label.waiting" ]; then
      if [ $((waited % 300)) -eq 0 ]; then say "$label: downloaded, waiting for a compile slot ($((SECONDS - started))s)"; fi
      waited=$((waited + 1))
    elif [ $((ticks % 30)) -eq 0 ] && kill -0 "$pid" 2>/dev/null; then
      say "$label: still building ($((SECONDS - started))s)"
    fi
  done
  if ! wait "$pid"; then
    tail -n 40 "$log" >&2
    say "error: $label failed after $((SECONDS - started))s; full log: $log"
    return 1
  fi
  say "$label: done in $((SECONDS - started))s"
}

have_all() { local dir="$1"; shift; for b in "$@"; do [ -x "$dir/$b" ] || return 1; done; }

# A wrapper module that requires `module@version` and builds `packages` into `out`.
build_module() {
  local label="$1" module="$2" version="$3" out="$4"; shift 4
  local dir="$WORK_DIR/$label-$version"
  rm -rf "$dir" && mkdir -p "$dir"
  (
    cd "$dir"
    go mod init "selfheal.local/build/$label" >/dev/null 2>&1
    go mod edit -require="$module@$version"
    if [ -n "${EXTRA_REPLACES:-}" ]; then eval "$EXTRA_REPLACES"; fi
    printf 'package tools\n\nimport (\n' >tools.go
    for p in "$@"; do printf '\t_ "%s"\n' "$p" >>tools.go; done
    printf ')\n' >>tools.go
    sed -i '1i //go:build tools' tools.go
    go mod tidy -e
    mkdir -p "$out.tmp"
    in_slot go build -trimpath ${BUILD_TAGS:+-tags=$BUILD_TAGS} -ldflags="-s -w ${LDFLAGS:-}" -o "$out.tmp/" "$@"
    rm -rf "$out" && mv "$out.tmp" "$out"
  )
}

kubernetes() {
  local out="$BIN_DIR/kubernetes-$K8S_VERSION"
  if have_all "$out" kube-apiserver kube-controller-manager kube-scheduler kubectl; then say "kubernetes $K8S_VERSION: cached"; return; fi
  need_go "kubernetes"
  say "kubernetes $K8S_VERSION: cold build (about 5 min on 2 fast cores, up to 25 on slow ones)"
  local info gomod
  info=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION")
  gomod=$(printf '%s' "$info" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  local minor="${K8S_VERSION#v1.}"; minor="v0.${minor}"
  local minor_only="${K8S_VERSION#v1.}"; minor_only="${minor_only%%.*}"
  # The kubernetes go.mod replaces its staging modules with local paths; point them at the published versions instead.
  local replaces=""
  for m in $(sed -n 's#^\s*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\1#p' "$gomod"); do
    replaces+="go mod edit -replace=$m=$m@$minor;"
  done
  local godebug; godebug=$(sed -n '/^godebug/,/^)/p' "$gomod")
  local ver="-X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor_only"
  EXTRA_REPLACES="$replaces printf '%s\n' \"$godebug\" >>go.mod;" LDFLAGS="$ver" \
    with_progress kubernetes build_module kubernetes k8s.io/kubernetes "$K8S_VERSION" "$out" \
      k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
      k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl
}

etcd() {
  local out="$BIN_DIR/etcd-$ETCD_VERSION"
  if have_all "$out" etcd; then say "etcd $ETCD_VERSION: cached"; return; fi
  need_go "etcd"
  say "etcd $ETCD_VERSION: cold build"
  local dir="$WORK_DIR/etcd-$ETCD_VERSION"
  rm -rf "$dir" && mkdir -p "$dir/etcd"
  cat >"$dir/etcd/main.go" <<'GO'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  build_etcd() {
    cd "$dir" && go mod init selfheal.local/build/etcd && go mod edit -require="go.etcd.io/etcd/server/v3@$ETCD_VERSION" &&
      go mod tidy && mkdir -p "$out.tmp" && in_slot go build -trimpath -ldflags="-s -w" -o "$out.tmp/etcd" ./etcd &&
      rm -rf "$out" && mv "$out.tmp" "$out"
  }
  with_progress etcd build_etcd
}

kube_state_metrics() {
  local out="$BIN_DIR/kube-state-metrics-$KSM_VERSION"
  if have_all "$out" kube-state-metrics; then say "kube-state-metrics $KSM_VERSION: cached"; return; fi
  need_go "kube-state-metrics"
  say "kube-state-metrics $KSM_VERSION: cold build"
  # A wrapper module, not `go install`: the proxy refuses this module's version list, which `go install` reads.
  with_progress kube-state-metrics build_module kube-state-metrics k8s.io/kube-state-metrics/v2 "$KSM_VERSION" "$out" \
    k8s.io/kube-state-metrics/v2
}

prometheus() {
  local out="$BIN_DIR/prometheus-$PROMETHEUS_VERSION"
  if have_all "$out" prometheus promtool; then say "prometheus $PROMETHEUS_VERSION: cached"; return; fi
  need_go "prometheus"
  say "prometheus $PROMETHEUS_VERSION: cold build (tags: ${PROMETHEUS_BUILD_TAGS:-none, every service discovery})"
  BUILD_TAGS="$PROMETHEUS_BUILD_TAGS" with_progress prometheus build_module prometheus github.com/prometheus/prometheus "$PROMETHEUS_VERSION" "$out" \
    github.com/prometheus/prometheus/cmd/prometheus github.com/prometheus/prometheus/cmd/promtool
}

alertmanager() {
  local out="$BIN_DIR/alertmanager-$ALERTMANAGER_VERSION"
  if have_all "$out" alertmanager amtool; then say "alertmanager $ALERTMANAGER_VERSION: cached"; return; fi
  need_go "alertmanager"
  say "alertmanager $ALERTMANAGER_VERSION: cold build"
  # The module embeds its separately built web UI (ui/app/dist), which the published module lacks: build from a
  # copy of the source with a placeholder page; the API, which is all selfheal uses, is unaffected.
  local src="$WORK_DIR/alertmanager-src-$ALERTMANAGER_VERSION"
  local moddir; moddir=$(go mod download -json "github.com/prometheus/alertmanager@$ALERTMANAGER_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  rm -rf "$src" && cp -r "$moddir" "$src" && chmod -R u+w "$src" && mkdir -p "$src/ui/app/dist" &&
    printf '<!doctype html><title>Alertmanager</title><p>Web UI not built; the API is at /api/v2/.</p>\n' >"$src/ui/app/dist/index.html"
  EXTRA_REPLACES="go mod edit -replace=github.com/prometheus/alertmanager=$src;" \
    with_progress alertmanager build_module alertmanager github.com/prometheus/alertmanager "$ALERTMANAGER_VERSION" "$out" \
    github.com/prometheus/alertmanager/cmd/alertmanager github.com/prometheus/alertmanager/cmd/amtool
}

prometheus_operator() {
  local out="$BIN_DIR/prometheus-operator-$PROMETHEUS_OPERATOR_VERSION"
  if have_all "$out" operator && [ -d "$out/crds" ]; then
    say "prometheus-operator $PROMETHEUS_OPERATOR_VERSION: cached"; return
  fi
  need_go "prometheus-operator"
  say "prometheus-operator $PROMETHEUS_OPERATOR_VERSION: cold build"
  # Its go.mod replaces the nested modules pkg/apis/monitoring and pkg/client with local folders, which the published
  # module does not contain: build from a copy of the source with those replaces dropped, so both come from the proxy
  # at the same version. The CRDs ship in the module (example/prometheus-operator-crd).
  local src="$WORK_DIR/prometheus-operator-src-$PROMETHEUS_OPERATOR_VERSION"
  local module=github.com/prometheus-operator/prometheus-operator
  local moddir; moddir=$(go mod download -json "$module@$PROMETHEUS_OPERATOR_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  rm -rf "$src" && cp -r "$moddir" "$src" && chmod -R u+w "$src"
  # The operator names its config reloader image after its own version: stamp it as the release build does. The
  # reloader itself is not built: stack/operator/localize.ts does its work where the operator's pods would run it.
  local ver="-X github.com/prometheus/common/version.Version=${PROMETHEUS_OPERATOR_VERSION#v}"
  build_operator() {
    cd "$src" &&
      go mod edit -dropreplace="$module/pkg/apis/monitoring" -dropreplace="$module/pkg/client" &&
      go mod download "$module/pkg/apis/monitoring" "$module/pkg/client" &&
      mkdir -p "$out.tmp/crds" &&
      in_slot go build -trimpath -ldflags="-s -w $ver" -o "$out.tmp/" ./cmd/operator &&
      cp example/prometheus-operator-crd/*.yaml "$out.tmp/crds/" &&
      rm -rf "$out" && mv "$out.tmp" "$out"
  }
  with_progress prometheus-operator build_operator
}

knative_eventing() {
  local out="$BIN_DIR/knative-eventing-$KNATIVE_EVENTING_VERSION"
  local bins=(controller webhook mtchannel_broker ingress filter channel_controller channel_dispatcher)
  if have_all "$out" "${bins[@]}"; then
    say "knative-eventing $KNATIVE_EVENTING_VERSION: cached"
  else
    need_go "knative-eventing"
    say "knative-eventing $KNATIVE_EVENTING_VERSION: cold build (seven commands: about 10-30 min on 2 cores)"
    # What a channel-based Broker needs: the core controller and webhook, the multi-tenant channel Broker's
    # controller, ingress and filter, and the in-memory channel's controller and dispatcher. The module's go.mod has
    # no replace lines, so a wrapper module builds it.
    local module=knative.dev/eventing
    with_progress knative-eventing build_module knative-eventing "$module" "$KNATIVE_EVENTING_VERSION" "$out" \
      "$module/cmd/controller" "$module/cmd/webhook" "$module/cmd/mtchannel_broker" \
      "$module/cmd/broker/ingress" "$module/cmd/broker/filter" \
      "$module/cmd/in_memory/channel_controller" "$module/cmd/in_memory/channel_dispatcher"
  fi
  knative_config "$out"
}

# The config the components are installed with, from the modules: Eventing's core, channel-based Broker and in-memory
# channel (CRDs, roles, ConfigMaps, Deployments, webhooks), and from Serving (same release) the Service CRD and the
# roles that let Eventing resolve and bind Knative Services.
knative_config() {
  local out="$1"
  [ -d "$out/config/core" ] && [ -d "$out/config/serving" ] && return 0
  need_go "knative-eventing config"
  local eventing serving
  eventing=$(go mod download -json "knative.dev/eventing@$KNATIVE_EVENTING_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  serving=$(go mod download -json "knative.dev/serving@$KNATIVE_SERVING_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  rm -rf "$out/config.tmp" && mkdir -p "$out/config.tmp/serving"
  cp -r "$eventing/config/core" "$eventing/config/brokers/mt-channel-broker" "$eventing/config/channels/in-memory-channel" \
    "$out/config.tmp/"
  cp "$serving/config/core/300-resources/service.yaml" "$serving/config/core/200-roles/addressable-resolvers-clusterrole.yaml" \
    "$serving/config/core/200-roles/podspecable-bindings-clusterrole.yaml" "$out/config.tmp/serving/"
  chmod -R u+w "$out/config.tmp"
  rm -rf "$out/config" && mv "$out/config.tmp" "$out/config"
  say "knative-eventing $KNATIVE_EVENTING_VERSION: config from the eventing and serving ($KNATIVE_SERVING_VERSION) modules"
}

# envtest convention: a folder that already holds etcd, kube-apiserver and kubectl.
if [ -n "${KUBEBUILDER_ASSETS:-}" ] && have_all "$KUBEBUILDER_ASSETS" etcd kube-apiserver kubectl; then
  say "using etcd, kube-apiserver and kubectl from KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS"
  SKIP_ETCD=1
fi

# The manifest other tools read: one line per binary, name=path. Written first, so a partial build still lists
# where every binary belongs (readers check that each file exists and is executable).
write_manifest() {
  {
    if [ -n "${SKIP_ETCD:-}" ]; then echo "etcd=$KUBEBUILDER_ASSETS/etcd"; else echo "etcd=$BIN_DIR/etcd-$ETCD_VERSION/etcd"; fi
    for b in kube-apiserver kube-controller-manager kube-scheduler kubectl; do echo "$b=$BIN_DIR/kubernetes-$K8S_VERSION/$b"; done
    echo "kube-state-metrics=$BIN_DIR/kube-state-metrics-$KSM_VERSION/kube-state-metrics"
    echo "prometheus=$BIN_DIR/prometheus-$PROMETHEUS_VERSION/prometheus"
    echo "promtool=$BIN_DIR/prometheus-$PROMETHEUS_VERSION/promtool"
    echo "alertmanager=$BIN_DIR/alertmanager-$ALERTMANAGER_VERSION/alertmanager"
    echo "amtool=$BIN_DIR/alertmanager-$ALERTMANAGER_VERSION/amtool"
    echo "prometheus-operator=$BIN_DIR/prometheus-operator-$PROMETHEUS_OPERATOR_VERSION/operator"
    echo "prometheus-operator-crds=$BIN_DIR/prometheus-operator-$PROMETHEUS_OPERATOR_VERSION/crds"
    local kn="$BIN_DIR/knative-eventing-$KNATIVE_EVENTING_VERSION"
    echo "knative-eventing-controller=$kn/controller"
    echo "knative-eventing-webhook=$kn/webhook"
    echo "knative-mtchannel-broker=$kn/mtchannel_broker"
    echo "knative-broker-ingress=$kn/ingress"
    echo "knative-broker-filter=$kn/filter"
    echo "knative-imc-controller=$kn/channel_controller"
    echo "knative-imc-dispatcher=$kn/channel_dispatcher"
    echo "knative-eventing-config=$kn/config"
  } >"$CACHE_ROOT/binaries.env.tmp"
  mv "$CACHE_ROOT/binaries.env.tmp" "$CACHE_ROOT/binaries.env"
}
write_manifest

# Every target is attempted, so one failure does not hold back the others. Each runs in a subshell of its own with
# `set -e` in force (calling it as `target || ...` would switch -e off inside it, hiding failed steps).
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(etcd kubernetes kube-state-metrics prometheus alertmanager prometheus-operator knative-eventing)
failed=()
pids=()
names=()
started=$SECONDS
for t in "${targets[@]}"; do
  case "$t" in
    etcd) [ -z "${SKIP_ETCD:-}" ] || continue; fn=etcd ;;
    kubernetes) fn=kubernetes ;;
    kube-state-metrics) fn=kube_state_metrics ;;
    prometheus) fn=prometheus ;;
    alertmanager) fn=alertmanager ;;
    prometheus-operator) fn=prometheus_operator ;;
    knative-eventing) fn=knative_eventing ;;
    *) die "unknown target '$t' (etcd, kubernetes, kube-state-metrics, prometheus, alertmanager, prometheus-operator, knative-eventing)" ;;
  esac
  if [ "${SELFHEAL_BUILD_SEQUENTIAL:-0}" = 1 ]; then
    set +e
    (set -e; "$fn")
    status=$?
    set -e
    [ "$status" -eq 0 ] || failed+=("$t")
  else
    (set -e; "$fn") &
    pids+=("$!")
    names+=("$t")
  fi
done
for i in "${!pids[@]}"; do
  wait "${pids[$i]}" || failed+=("${names[$i]}")
done
if [ $((SECONDS - started)) -ge 5 ]; then
  if [ "${SELFHEAL_BUILD_SEQUENTIAL:-0}" = 1 ]; then mode="one target at a time"; else mode="$JOBS compile slot(s)"; fi
  say "built in $((SECONDS - started))s ($mode)"
fi

say "binaries listed in $CACHE_ROOT/binaries.env"
[ ${#failed[@]} -eq 0 ] || die "failed to build: ${failed[*]} (the others are ready; run again to retry)"
