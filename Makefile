# Builds and installs the C API: header, static and shared library,
# pkg-config files and a CMake package.
#
#   make                                   # the C libraries, release (see `build` below)
#   make staticlib                         # only libens_upload.a (make sharedlib: the .so)
#   make PROFILE=min-size install ...      # the smallest library (panics abort)
#   make install PREFIX=/usr/local         # or: make install PREFIX=$HOME/.local
#   make install DESTDIR=/tmp/stage PREFIX=/usr   # staged install, for packaging
#   make uninstall PREFIX=/usr/local
#   make install NO_BUILD=1 BUILD=target/debug PREFIX=...  # install an existing build
#   make TARGET=aarch64-unknown-linux-gnu CROSS_COMPILE=aarch64-linux-gnu-  # cross build
#
# Everything else (tests, lints) is plain cargo: see README.md.

PREFIX     ?= /usr/local
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
CMAKEDIR   ?= $(LIBDIR)/cmake/ens_upload
DESTDIR    ?=
CARGO      ?= cargo
# Extra flags for cargo, e.g. CARGO_FLAGS="--no-default-features --features rustls"
# (no bundled roots: docs/platforms.md) or --locked.
CARGO_FLAGS ?=
INSTALL    ?= install

# Cross builds (docs/platforms.md): TARGET is a Rust target triple, whose
# standard library must be installed (rustup target add, or Debian's
# libstd-rust-dev:<arch>); CROSS_COMPILE is the C cross toolchain's prefix,
# used as the linker (the shared library) and as the C compiler and
# archiver of ring's build script (CC_<target>, AR_<target>). Without
# CROSS_COMPILE, cargo's own configuration (.cargo/config.toml, CC_<target>
# in the environment) decides.
TARGET        ?=
CROSS_COMPILE ?=
TARGET_UNDERSCORED := $(subst -,_,$(TARGET))
TARGET_UPPER := $(shell echo '$(TARGET_UNDERSCORED)' | tr a-z A-Z)
CARGO_TARGET := $(if $(TARGET),--target $(TARGET))
CARGO_ENV    := $(if $(and $(TARGET),$(CROSS_COMPILE)),env \
	CARGO_TARGET_$(TARGET_UPPER)_LINKER=$(CROSS_COMPILE)gcc \
	CC_$(TARGET_UNDERSCORED)=$(CROSS_COMPILE)gcc \
	AR_$(TARGET_UNDERSCORED)=$(CROSS_COMPILE)ar)

# Where cargo puts the release build (honours CARGO_TARGET_DIR), under the
# target triple for a cross build.
TARGET_DIR ?= $(if $(CARGO_TARGET_DIR),$(CARGO_TARGET_DIR),target)
PROFILE    ?= release
BUILD      ?= $(TARGET_DIR)/$(if $(TARGET),$(TARGET)/)$(PROFILE)
CARGO_ARGS = $(strip --profile $(PROFILE) $(CARGO_TARGET) $(CARGO_FLAGS))

VERSION := $(shell sed -n 's/^version *= *"\([^"]*\)".*/\1/p' Cargo.toml | head -n 1)

# The shared library's SONAME: libens_upload.so.<major>, where a 0.x
# version's major is 0.<minor> (each 0.x minor may break the ABI, as Cargo's
# semver rules and cargo-c's sonames have it). Installed as
# libens_upload.so.$(VERSION), with the SONAME and the bare .so as symlinks.
VERSION_MAJOR := $(word 1,$(subst ., ,$(VERSION)))
VERSION_MINOR := $(word 2,$(subst ., ,$(VERSION)))
SOVERSION  := $(if $(filter 0,$(VERSION_MAJOR)),0.$(VERSION_MINOR),$(VERSION_MAJOR))
SONAME     := libens_upload.so.$(SOVERSION)

# The system libraries a program needs besides libens_upload.a, from
# `cargo rustc --release --lib --crate-type staticlib -- --print native-static-libs`
# (Linux, glibc).
NATIVE_STATIC_LIBS = -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc

all: build

# The crate is an rlib for Rust users (a Rust program that depends on it
# builds no C library). The C libraries are built here on purpose, each on
# its own: a static library built alone lets rustc drop what the C API does
# not export (a smaller program), and only the shared one gets a SONAME.
build: staticlib sharedlib

staticlib:
	$(CARGO_ENV) $(CARGO) rustc $(CARGO_ARGS) --lib --crate-type staticlib

sharedlib:
	$(CARGO_ENV) $(CARGO) rustc $(CARGO_ARGS) --lib --crate-type cdylib -- -C link-arg=-Wl,-soname,$(SONAME)

install: $(if $(NO_BUILD),,build)
	$(INSTALL) -d $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(CMAKEDIR)
	$(INSTALL) -m 644 include/ens_upload.h $(DESTDIR)$(INCLUDEDIR)/ens_upload.h
	$(INSTALL) -m 644 $(BUILD)/libens_upload.a $(DESTDIR)$(LIBDIR)/libens_upload.a
	$(INSTALL) -m 755 $(BUILD)/libens_upload.so $(DESTDIR)$(LIBDIR)/libens_upload.so.$(VERSION)
	ln -sf libens_upload.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libens_upload.so
	for pc in ens_upload ens_upload-shared; do \
	  $(SUBSTITUTE) $$pc.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/$$pc.pc && \
	  chmod 644 $(DESTDIR)$(PKGCONFIGDIR)/$$pc.pc || exit 1; \
	done
	for f in ens_uploadConfig ens_uploadConfigVersion; do \
	  $(SUBSTITUTE) cmake/$$f.cmake.in > $(DESTDIR)$(CMAKEDIR)/$$f.cmake && \
	  chmod 644 $(DESTDIR)$(CMAKEDIR)/$$f.cmake || exit 1; \
	done

# Fills in the @...@ values of the pkg-config and CMake templates.
SUBSTITUTE = sed -e 's|@PREFIX@|$(PREFIX)|g' \
	-e 's|@LIBDIR@|$(LIBDIR)|g' \
	-e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' \
	-e 's|@VERSION@|$(VERSION)|g' \
	-e 's|@SONAME@|$(SONAME)|g' \
	-e 's|@NATIVE_STATIC_LIBS@|$(NATIVE_STATIC_LIBS)|g'

uninstall:
	rm -f $(DESTDIR)$(INCLUDEDIR)/ens_upload.h \
	      $(DESTDIR)$(LIBDIR)/libens_upload.a \
	      $(DESTDIR)$(LIBDIR)/libens_upload.so \
	      $(DESTDIR)$(LIBDIR)/$(SONAME) \
	      $(DESTDIR)$(LIBDIR)/libens_upload.so.$(VERSION) \
	      $(DESTDIR)$(PKGCONFIGDIR)/ens_upload.pc \
	      $(DESTDIR)$(PKGCONFIGDIR)/ens_upload-shared.pc \
	      $(DESTDIR)$(CMAKEDIR)/ens_uploadConfig.cmake \
	      $(DESTDIR)$(CMAKEDIR)/ens_uploadConfigVersion.cmake
	-rmdir $(DESTDIR)$(CMAKEDIR) 2>/dev/null

.PHONY: all build staticlib sharedlib install uninstall
