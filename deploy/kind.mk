# kind: the nightly game day on a local Kubernetes cluster.
# Included from the Makefile (after BIN, GAMEDAY and STAMP are defined):  include deploy/kind.mk
#
#   make kind-up     create the kind cluster (if missing), build and load an image of every release the profile's
#                    experiments and canary scenarios deploy (`gameday profile releases`: good, slow, bad,
#                    broken), install Chaos Mesh when CHAOS_MESH=1 (its CRDs and controllers, for the network
#                    faults), apply the kind overlay, wait for every rollout
#   make kind-canaries  the runbook's canary scenarios on the kind cluster (gameday canary-scenarios)
#   make nightly     kind-up, then the whole game day on it (TARGET=kubernetes CONTEXT=kind-gameday
#                    NAMESPACE=gameday); the report goes to reports/; exits non-zero when the game day fails
#                    or an experiment regressed against the history (--fail-on-regression, docs/history.md)
#   make kind-down   delete the cluster
#
# Needs kind and a working docker (neither is on the development machines: there kind-up stops with one
# line). deploy/README.md says what is verified without a cluster.

KIND_CLUSTER ?= gameday
KIND_CONTEXT ?= kind-$(KIND_CLUSTER)
KIND_NAMESPACE ?= gameday
KIND_CONFIG ?= deploy/overlays/kind/kind-cluster.yaml
KIND_OVERLAY ?= deploy/overlays/kind
KIND_BASE_URL ?= http://127.0.0.1:8080
KUBECTL ?= $(BIN)/kubectl
APP_IMAGE ?= ecommerce-backend
CHAOS_MESH ?= 0
CHAOS_MESH_VERSION ?= 2.7.2
REPORTS_DIR ?= reports
NIGHTLY_ARGS ?= --no-live --no-alert-wait --fail-on-regression

.PHONY: kind-check kind-up kind-canaries nightly kind-down

kind-check:
	@command -v kind >/dev/null 2>&1 || { echo "kind-up: 'kind' is not installed (https://kind.sigs.k8s.io/docs/user/quick-start/#installation)" >&2; exit 1; }
	@command -v docker >/dev/null 2>&1 || { echo "kind-up: 'docker' is not installed: kind runs its node in a container" >&2; exit 1; }
	@docker info >/dev/null 2>&1 || { echo "kind-up: docker is installed but its daemon does not answer (is it running? may this user use it?)" >&2; exit 1; }

kind-up: kind-check $(STAMP)
	@kind get clusters 2>/dev/null | grep -qx '$(KIND_CLUSTER)' \
	  || kind create cluster --name '$(KIND_CLUSTER)' --config '$(KIND_CONFIG)' --wait 180s
	@releases="$$($(GAMEDAY) profile releases | cut -f1)" && [ -n "$$releases" ] \
	  || { echo "kind-up: the profile names no release to build" >&2; exit 1; }; \
	for v in $$releases; do \
	  docker build -f sut/Dockerfile -t "$(APP_IMAGE):$$v" --build-arg "APP_VERSION=$$v" . || exit 1; \
	  kind load docker-image --name '$(KIND_CLUSTER)' "$(APP_IMAGE):$$v" || exit 1; \
	done
	@if [ '$(CHAOS_MESH)' = 1 ]; then \
	  command -v helm >/dev/null 2>&1 || { echo "kind-up: CHAOS_MESH=1 needs helm (https://helm.sh/docs/intro/install/)" >&2; exit 1; }; \
	  helm repo add chaos-mesh https://charts.chaos-mesh.org >/dev/null && helm repo update chaos-mesh >/dev/null \
	  && helm upgrade --install chaos-mesh chaos-mesh/chaos-mesh --kube-context '$(KIND_CONTEXT)' \
	       --namespace chaos-mesh --create-namespace --version '$(CHAOS_MESH_VERSION)' \
	       --set chaosDaemon.runtime=containerd --set chaosDaemon.socketPath=/run/containerd/containerd.sock \
	       --set dashboard.create=false --wait --timeout 300s || exit 1; \
	fi
	$(KUBECTL) --context '$(KIND_CONTEXT)' apply -k '$(KIND_OVERLAY)'
	for sts in postgres redis kafka; do \
	  $(KUBECTL) --context '$(KIND_CONTEXT)' -n '$(KIND_NAMESPACE)' rollout status "statefulset/$$sts" --timeout=300s || exit 1; \
	done
	$(KUBECTL) --context '$(KIND_CONTEXT)' -n '$(KIND_NAMESPACE)' rollout status deployment/ecommerce-backend --timeout=300s
	TARGET=kubernetes CONTEXT='$(KIND_CONTEXT)' NAMESPACE='$(KIND_NAMESPACE)' \
	  GAMEDAY_KUBERNETES__BASE_URL='$(KIND_BASE_URL)' $(GAMEDAY) status

kind-canaries: kind-up
	TARGET=kubernetes CONTEXT='$(KIND_CONTEXT)' NAMESPACE='$(KIND_NAMESPACE)' \
	  GAMEDAY_KUBERNETES__BASE_URL='$(KIND_BASE_URL)' $(GAMEDAY) canary-scenarios

nightly: kind-up
	TARGET=kubernetes CONTEXT='$(KIND_CONTEXT)' NAMESPACE='$(KIND_NAMESPACE)' \
	  GAMEDAY_KUBERNETES__BASE_URL='$(KIND_BASE_URL)' \
	  $(GAMEDAY) run --reports-dir '$(REPORTS_DIR)' $(NIGHTLY_ARGS)

kind-down:
	@if command -v kind >/dev/null 2>&1; then kind delete cluster --name '$(KIND_CLUSTER)'; \
	else echo "kind-down: 'kind' is not installed: no cluster to delete" >&2; fi
