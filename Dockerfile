# The gitops-agent image (deploy/deployment.yaml runs it). Built by CI; not built or tested
# on machines without a container runtime, where deploy/ is exercised with the same
# manifests against a real API server (tests/integration/test_deploy_rbac.py).
FROM python:3.11-slim

# git: the agent reads and writes environment branches with git plumbing.
RUN apt-get update \
    && apt-get install -y --no-install-recommends git ca-certificates \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY pyproject.toml README.md ./
COPY gitops_agent ./gitops_agent
COPY schemas ./schemas
RUN pip install --no-cache-dir . && rm -rf /src

# Never root: a fixed UID/GID that the Deployment's securityContext also names.
RUN groupadd --gid 10001 agent && useradd --uid 10001 --gid 10001 --home-dir /tmp --no-create-home agent
USER 10001:10001
WORKDIR /tmp
ENTRYPOINT ["gitops-agent"]
CMD ["reconcile", "--repo=/repo", "--leader-elect"]
