# hookbridge image: build stage with the -dev packages, run stage with the libraries only.
FROM debian:bookworm-slim AS build
RUN apt-get update -q && apt-get install -y -q --no-install-recommends \
        build-essential pkg-config libevent-dev libhiredis-dev libcurl4-openssl-dev \
        libcjson-dev libsqlite3-dev libsodium-dev libpcre2-dev libgmime-3.0-dev libssl-dev libpq-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Makefile ./
COPY common common
COPY ingress ingress
COPY worker worker
COPY schemas schemas
COPY ui ui
COPY scripts/embed-schemas scripts/embed-ui scripts/
RUN make -j2 all

FROM debian:bookworm-slim
RUN apt-get update -q && apt-get install -y -q --no-install-recommends \
        libevent-2.1-7 libhiredis0.14 libcurl4 libcjson1 libsqlite3-0 libsodium23 \
        libpcre2-8-0 libgmime-3.0-0 libevent-openssl-2.1-7 libssl3 libpq5 ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /data hookbridge && mkdir -p /data && chown hookbridge /data \
    && chmod 0700 /data
COPY --from=build /src/bin/hookbridge-ingress /src/bin/hookbridge-worker /usr/local/bin/
USER hookbridge
WORKDIR /data
ENV HOOKBRIDGE_DB=/data/hookbridge.db
EXPOSE 8080 8081
CMD ["hookbridge-ingress"]
