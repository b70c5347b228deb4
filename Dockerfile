# hookbridge image: build stage with the -dev packages, run stage with the libraries only.
# One image for both processes (compose names it hookbridge:local); the command picks which.
FROM debian:bookworm-slim AS build
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update -q && apt-get install -y -q --no-install-recommends \
        build-essential pkg-config libevent-dev libhiredis-dev libcurl4-openssl-dev \
        libcjson-dev libsqlite3-dev libsodium-dev libpcre2-dev libgmime-3.0-dev libssl-dev libidn2-dev libpq-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Makefile ./
COPY common common
COPY ingress ingress
COPY worker worker
COPY schemas schemas
COPY ui ui
COPY scripts/embed-schemas scripts/embed-ui scripts/embed-migrations scripts/
RUN make -j2 all

FROM debian:bookworm-slim
ARG DEBIAN_FRONTEND=noninteractive
# A fixed UID and GID: a rebuilt image must still own the files of the existing "data"
# volume (useradd --system picks the next free id, which can change between builds).
RUN apt-get update -q && apt-get install -y -q --no-install-recommends \
        libevent-2.1-7 libhiredis0.14 libcurl4 libcjson1 libsqlite3-0 libsodium23 \
        libpcre2-8-0 libgmime-3.0-0 libevent-openssl-2.1-7 libssl3 libidn2-0 libpq5 ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 hookbridge \
    && useradd --system --uid 10001 --gid 10001 --home-dir /data --no-create-home hookbridge \
    && mkdir -p /data && chown 10001:10001 /data && chmod 0700 /data
COPY --from=build /src/bin/hookbridge-ingress /src/bin/hookbridge-worker /usr/local/bin/
USER 10001:10001
WORKDIR /data
ENV HOOKBRIDGE_DB=/data/hookbridge.db
# No EXPOSE: the worker listens on nothing; the compose file publishes the ingress's ports.
CMD ["hookbridge-ingress"]
