# The gudang worker, compiled (npm run build: dist/src/worker.js and the workflow bundle) and run by node directly,
# so it receives SIGTERM and no TypeScript loader sits in its memory. Used by docker-compose.yml; see there for
# the environment it expects (DATABASE_URL, TEMPORAL_ADDRESS, ...).
FROM node:20-slim

ENV NODE_ENV=production \
    NPM_CONFIG_UPDATE_NOTIFIER=false \
    NPM_CONFIG_FUND=false

WORKDIR /app

# Dependencies first, so code changes do not invalidate this layer. tsx and esbuild (the build step, and the CLI
# and demo) are runtime dependencies; dev tools are left out.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force

COPY . .
RUN npm run build

# The unprivileged user that the node image provides.
RUN chown -R node:node /app
USER node

# V8's young generation capped at 1 MiB per semi-space and one V8 helper thread: about 45 MiB less idle RSS (the
# young generation is reserved in this thread and in the workflow thread), for more frequent, cheap scavenges.
# No --enable-source-maps: loading the bundle's source map costs about 12 MiB; the bundle is not minified, so stack
# traces still name the functions. Same flags as package.json's "worker" script and the benchmark (docs/performance.md).
CMD ["node", "--max-semi-space-size=1", "--v8-pool-size=1", "dist/src/worker.js"]
