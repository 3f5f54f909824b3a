# One image for the three programs: `docker run jetq api | worker | operator`.
# Build: docker build -t jetq:0.1.0 .   (kind: kind load docker-image jetq:0.1.0)
ARG NODE_IMAGE=node:20-bookworm-slim

# 1. Compile the TypeScript with every dependency.
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY kernel ./kernel
COPY library ./library
COPY api ./api
COPY worker ./worker
COPY operator ./operator
COPY client ./client
COPY scripts ./scripts
RUN npx tsc -p tsconfig.build.json
# The web view the API serves at /ui/ (Vite is a dev dependency, so it is built here).
COPY web ./web
RUN node scripts/build-web.mjs

# 2. Production dependencies only (what test/integration/image-install.test.ts installs and starts).
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# 3. The runtime: no compiler, no npm cache, a non-root user, tini as PID 1 so SIGTERM reaches Node
#    and zombies are reaped. Nothing is written under /app: state goes to JETQ_DATA_DIR (a volume)
#    and temporary files to /tmp (an emptyDir in the chart), so a read-only root filesystem works.
FROM ${NODE_IMAGE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENV NODE_ENV=production \
    JETQ_DATA_DIR=/var/lib/jetq \
    HOST=0.0.0.0
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY --from=build /src/web/dist ./web/dist
COPY package.json ./
COPY scripts/image/entrypoint.sh ./scripts/image/entrypoint.sh
RUN mkdir -p /var/lib/jetq && chown 10001:10001 /var/lib/jetq
# Numeric, so Kubernetes' runAsNonRoot can verify it without a passwd lookup.
USER 10001:10001
EXPOSE 8080 9091 8081
VOLUME ["/var/lib/jetq"]
ENTRYPOINT ["/usr/bin/tini", "--", "/app/scripts/image/entrypoint.sh"]
CMD ["api"]
