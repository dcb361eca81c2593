# syntax=docker/dockerfile:1
# Chorus in a container: built with the commands CI runs (.ci/run: npm install, npm run build), then only what
# runs is copied into a slim image that runs as the unprivileged "node" user.
#
#   docker build -t chorus .
#   docker run --rm -p 8000:8000 -v "$PWD/config.json:/app/config.json:ro" chorus
#   docker run --rm -p 8000:8000 -e CHORUS_CLIENT_TOKEN_HMAC_SECRET_KEY=… chorus     # or settings from the env
#
# Not tested on the machine it was written on (no container engine there): see deploy/README.md.

ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY . .
# As CI does. `npm install` also runs the package's "prepare" (the build); `npm run build` is CI's explicit step.
RUN npm install --no-audit --no-fund \
 && npm run build \
 && npm prune --omit=dev --no-audit --no-fund

FROM ${NODE_IMAGE}
ENV NODE_ENV=production \
    CHORUS_HTTP_SERVER_ADDRESS=0.0.0.0
WORKDIR /app
COPY --from=build /src/package.json ./
COPY --from=build /src/bin ./bin
COPY --from=build /src/dist ./dist
COPY --from=build /src/node_modules ./node_modules
USER node
EXPOSE 8000
# /health answers 200 while the process serves (see README). It is on the internal listener when
# http_server.internal_port is set: the check follows CHORUS_HTTP_SERVER_INTERNAL_PORT, else CHORUS_HTTP_SERVER_PORT
# (set the port through these variables, or override the check, when the config file moves it).
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "const e=process.env;fetch('http://127.0.0.1:'+(e.CHORUS_HTTP_SERVER_INTERNAL_PORT||e.CHORUS_HTTP_SERVER_PORT||8000)+'/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# Node runs as PID 1 and Chorus handles SIGTERM itself (docker stop): clients are closed with 3001.
ENTRYPOINT ["node", "/app/bin/chorus.js"]
# serve reads /app/config.json when it exists (the working directory), like Centrifugo's default config.json.
CMD ["serve"]
