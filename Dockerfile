# The gudang worker (src/worker.ts, run by node directly so it receives SIGTERM). Used by docker-compose.yml; see there for the
# environment it expects (DATABASE_URL, TEMPORAL_ADDRESS, ...).
FROM node:20-slim

ENV NODE_ENV=production \
    NPM_CONFIG_UPDATE_NOTIFIER=false \
    NPM_CONFIG_FUND=false

WORKDIR /app

# Dependencies first, so code changes do not invalidate this layer. tsx (which runs
# the TypeScript sources) is a runtime dependency; dev tools are left out.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force

COPY . .

# The unprivileged user that the node image provides.
RUN chown -R node:node /app
USER node

CMD ["node", "--import", "tsx", "src/worker.ts"]
