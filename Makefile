# make            builds build/ngx_http_session_module.so
# make test       unit tests, the integration tests (prove t/), a fuzz smoke
# make demo       builds, starts redis and nginx, fetches the published example
# make bench      the benchmark (bench/run, bench/README.md): the table, and
#                 bench/results/<UTC time>.json
# make bench-memory  10^6 requests, the worker's RSS before and after
# make bench-push   waiting and the fresh cache (bench/push, bench/README.md)
# make bench-render  callgrind: instructions per cold render (bench/render.c)
# make deb        build/libnginx-mod-http-session-result_<version>_amd64.deb
#                 (debian/, version from CHANGELOG.md)

SHELL      := /bin/bash
NGX_SRC    ?= /usr/share/nginx/src
BUILD      := build
NGX_BUILD  := $(BUILD)/nginx
MODULE     := $(BUILD)/ngx_http_session_module.so
CC_OPT     ?= -g -O2 -fPIC -Wall -Wextra -Werror
LD_OPT     ?=
UNIT_CC    ?= cc
UNIT_FLAGS ?= -std=gnu99 -g -O1 -Wall -Wextra -Werror -Ingx_session_module

SOURCES    := $(wildcard ngx_session_module/*.c ngx_session_module/*.h)

FUZZ_CC    ?= clang
FUZZ_FLAGS ?= -g -O1 -fsanitize=fuzzer,address,undefined \
              -fno-sanitize-recover=undefined -Ingx_session_module
FUZZ_TIME  ?= 60
FUZZERS    := resp json syntax keys token push cluster
UNIT_TESTS := $(BUILD)/unit/test_resp $(BUILD)/unit/test_json $(BUILD)/unit/test_jwt \
              $(BUILD)/unit/test_cache $(BUILD)/unit/test_owner \
              $(BUILD)/unit/test_push $(BUILD)/unit/test_ttl \
              $(BUILD)/unit/test_cluster

.PHONY: all deps test unit demo bench bench-memory bench-push bench-render test-valgrind test-asan fuzz fuzz-smoke deb clean

all: $(MODULE)

deps:
	@scripts/deps.sh

$(NGX_BUILD)/objs/Makefile: config
	rm -rf $(NGX_BUILD)
	mkdir -p $(BUILD)
	cp -r $(NGX_SRC) $(NGX_BUILD)
	cd $(NGX_BUILD) && . ./conf_flags && \
	    ./configure "$${NGX_CONF_FLAGS[@]}" --with-cc-opt="$(CC_OPT)" \
	    --with-ld-opt="$(LD_OPT)" --add-dynamic-module=$(CURDIR) \
	    > configure.log

$(MODULE): $(NGX_BUILD)/objs/Makefile $(SOURCES)
	$(MAKE) -s -C $(NGX_BUILD) -f objs/Makefile modules
	@# a new file, renamed into place: an nginx running the old one keeps it
	cp $(NGX_BUILD)/objs/ngx_http_session_module.so $@.tmp
	mv -f $@.tmp $@

$(BUILD)/unit/test_resp: t/unit/test_resp.c t/unit/tap.h $(SOURCES)
	@mkdir -p $(@D)
	$(UNIT_CC) $(UNIT_FLAGS) -o $@ $< ngx_session_module/ngx_session_resp.c \
	    ngx_session_module/ngx_session_data.c

$(BUILD)/unit/test_owner: t/unit/test_owner.c t/unit/tap.h t/unit/alloc.h $(SOURCES)
	@mkdir -p $(@D)
	$(UNIT_CC) $(UNIT_FLAGS) -o $@ $< ngx_session_module/ngx_session_resp.c \
	    ngx_session_module/ngx_session_data.c

$(BUILD)/unit/test_push: t/unit/test_push.c t/unit/tap.h $(SOURCES)
	@mkdir -p $(@D)
	$(UNIT_CC) $(UNIT_FLAGS) -o $@ $< ngx_session_module/ngx_session_push.c

$(BUILD)/unit/test_ttl: t/unit/test_ttl.c t/unit/tap.h t/unit/alloc.h $(SOURCES)
	@mkdir -p $(@D)
	$(UNIT_CC) $(UNIT_FLAGS) -o $@ $< ngx_session_module/ngx_session_resp.c \
	    ngx_session_module/ngx_session_data.c

$(BUILD)/unit/test_json: t/unit/test_json.c t/unit/tap.h $(SOURCES)
	@mkdir -p $(@D)
	$(UNIT_CC) $(UNIT_FLAGS) -o $@ $< ngx_session_module/ngx_session_json.c \
	    ngx_session_module/ngx_session_json_out.c \
	    ngx_session_module/ngx_session_data.c -ljansson

$(BUILD)/unit/test_jwt: t/unit/test_jwt.c t/unit/tap.h $(SOURCES)
	@mkdir -p $(@D)
	$(UNIT_CC) $(UNIT_FLAGS) -o $@ $< ngx_session_module/ngx_session_jwt.c \
	    ngx_session_module/ngx_session_jwk.c \
	    ngx_session_module/ngx_session_jose.c \
	    ngx_session_module/ngx_session_cache.c \
	    ngx_session_module/ngx_session_data.c -ljwt -ljansson -lcrypto

$(BUILD)/unit/test_cache: t/unit/test_cache.c t/unit/tap.h $(SOURCES)
	@mkdir -p $(@D)
	$(UNIT_CC) $(UNIT_FLAGS) -o $@ $< ngx_session_module/ngx_session_cache.c

$(BUILD)/unit/test_cluster: t/unit/test_cluster.c t/unit/tap.h $(SOURCES)
	@mkdir -p $(@D)
	$(UNIT_CC) $(UNIT_FLAGS) -o $@ $< ngx_session_module/ngx_session_cluster.c \
	    ngx_session_module/ngx_session_resp.c \
	    ngx_session_module/ngx_session_data.c

unit: $(UNIT_TESTS)

# libFuzzer targets (clang 14) for every parser of outside bytes
FUZZ_SRC_resp   := ngx_session_resp.c ngx_session_data.c
FUZZ_SRC_json   := ngx_session_json.c ngx_session_json_out.c ngx_session_data.c
FUZZ_SRC_syntax := ngx_session_json.c ngx_session_json_out.c ngx_session_data.c
FUZZ_SRC_keys   := ngx_session_jwk.c ngx_session_jose.c ngx_session_data.c
FUZZ_SRC_push   := ngx_session_push.c
FUZZ_SRC_token  := ngx_session_jwk.c ngx_session_jwt.c ngx_session_jose.c \
                   ngx_session_cache.c ngx_session_data.c
FUZZ_SRC_cluster := ngx_session_cluster.c ngx_session_resp.c ngx_session_data.c
FUZZ_LIBS       := -ljwt -ljansson -lcrypto

$(BUILD)/fuzz/fuzz_%: t/fuzz/fuzz_%.c t/fuzz/fuzz.h $(SOURCES)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $< \
	    $(addprefix ngx_session_module/,$(FUZZ_SRC_$*)) $(FUZZ_LIBS)

# each target runs FUZZ_TIME seconds from the checked-in seeds; anything
# found is left as build/fuzz/crash-* and fails the run
fuzz: $(addprefix $(BUILD)/fuzz/fuzz_,$(FUZZERS))
	@set -e; for f in $(FUZZERS); do \
	    mkdir -p $(BUILD)/fuzz/corpus-$$f; \
	    echo "fuzz_$$f: $(FUZZ_TIME) s"; \
	    $(BUILD)/fuzz/fuzz_$$f -max_total_time=$(FUZZ_TIME) -timeout=10 \
	        -rss_limit_mb=2048 -print_final_stats=0 \
	        -artifact_prefix=$(BUILD)/fuzz/ \
	        $(BUILD)/fuzz/corpus-$$f t/fuzz/corpus/$$f 2>$(BUILD)/fuzz/$$f.log \
	    || { tail -40 $(BUILD)/fuzz/$$f.log; exit 1; }; \
	    grep -h "^#.*DONE\|Done" $(BUILD)/fuzz/$$f.log | tail -1; \
	done

fuzz-smoke:
	$(MAKE) fuzz FUZZ_TIME=20

test: deps all unit
	prove --exec '' $(UNIT_TESTS)
	prove t/
	$(MAKE) fuzz-smoke

test-valgrind: deps all unit
	prove --exec 'valgrind -q --leak-check=full --error-exitcode=99' \
	    $(UNIT_TESTS)
	TEST_NGINX_VALGRIND=1 prove t/

# the module built with ASan + UBSan into build/asan/, then the whole of t/
ASAN_BUILD := $(BUILD)/asan
ASAN_OPT   := -g -O1 -fPIC -fno-omit-frame-pointer -Wall -Wextra -Werror \
              -fsanitize=address,undefined -fno-sanitize-recover=undefined

$(ASAN_BUILD)/nginx/objs/Makefile: config
	rm -rf $(ASAN_BUILD)/nginx
	mkdir -p $(ASAN_BUILD)
	cp -r $(NGX_SRC) $(ASAN_BUILD)/nginx
	cd $(ASAN_BUILD)/nginx && . ./conf_flags && \
	    ./configure "$${NGX_CONF_FLAGS[@]}" --with-cc-opt="$(ASAN_OPT)" \
	    --with-ld-opt="-fsanitize=address,undefined" \
	    --add-dynamic-module=$(CURDIR) > configure.log

$(ASAN_BUILD)/ngx_http_session_module.so: $(ASAN_BUILD)/nginx/objs/Makefile \
        $(SOURCES)
	$(MAKE) -s -C $(ASAN_BUILD)/nginx -f objs/Makefile modules
	cp $(ASAN_BUILD)/nginx/objs/ngx_http_session_module.so $@.tmp
	mv -f $@.tmp $@

test-asan: deps $(ASAN_BUILD)/ngx_http_session_module.so
	TEST_NGINX_ASAN=1 \
	TEST_NGINX_MODULE=$(CURDIR)/$(ASAN_BUILD)/ngx_http_session_module.so \
	    prove t/

# dpkg-buildpackage in a copy of the tree (without build/ and .git), so the
# package is made from what is checked out here, by debian/rules calling this
# Makefile's `make` with Debian's flags; the .deb lands in build/
DEB_VERSION = $(shell scripts/deb-changelog --version)
DEB_SRC     := $(BUILD)/deb/src

deb: deps
	@test -n "$(DEB_VERSION)"
	rm -rf $(BUILD)/deb
	mkdir -p $(DEB_SRC)
	tar -c --exclude=./build --exclude=./.git . | tar -x -C $(DEB_SRC)
	scripts/deb-changelog > $(DEB_SRC)/debian/changelog
	cd $(DEB_SRC) && dpkg-buildpackage -b -us -uc > ../build.log 2>&1 \
	    || { tail -40 ../build.log; exit 1; }
	mv -f $(BUILD)/deb/libnginx-mod-http-session-result_$(DEB_VERSION)_amd64.deb \
	    $(BUILD)/
	lintian --fail-on error \
	    $(BUILD)/libnginx-mod-http-session-result_$(DEB_VERSION)_amd64.deb

demo: deps all
	scripts/demo.sh

bench: deps all
	bench/run

bench-memory: deps all
	bench/run --memory
	bench/run --memory --case polling

# SPEC 9: cached polling without a store read, 10,000 waiters, wake latency
bench-push: deps all
	bench/push

# the body builder alone, at the module's -O2: the published example and
# 300 stops, instructions per ngx_session_json_build()
$(BUILD)/bench/render: bench/render.c t/unit/seed.h $(SOURCES)
	@mkdir -p $(@D)
	$(UNIT_CC) -std=gnu99 -g -O2 -Wall -Wextra -Werror -Ingx_session_module \
	    -It/unit -o $@ $< ngx_session_module/ngx_session_json.c \
	    ngx_session_module/ngx_session_json_out.c \
	    ngx_session_module/ngx_session_data.c -ljansson

bench-render: $(BUILD)/bench/render
	@for c in example stops300; do \
	    valgrind -q --tool=callgrind --callgrind-out-file=$(BUILD)/bench/$$c.cg \
	        --toggle-collect=ngx_session_json_build $< $$c 100 >/dev/null; \
	    callgrind_annotate $(BUILD)/bench/$$c.cg | awk -v c=$$c \
	        '/PROGRAM TOTALS/ { gsub(",", "", $$1); \
	         printf "%s: %d instructions per build\n", c, $$1 / 100 }'; \
	done

clean:
	rm -rf $(BUILD)
