# Builds and installs the C API: header, static and shared library, pkg-config file.
#
#   make                                   # cargo build --release --lib
#   make PROFILE=min-size install ...      # the smallest library (panics abort)
#   make install PREFIX=/usr/local         # or: make install PREFIX=$HOME/.local
#   make install DESTDIR=/tmp/stage PREFIX=/usr   # staged install, for packaging
#   make uninstall PREFIX=/usr/local
#   make install NO_BUILD=1 BUILD=target/debug PREFIX=...  # install an existing build
#
# Everything else (tests, lints) is plain cargo: see README.md.

PREFIX     ?= /usr/local
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
DESTDIR    ?=
CARGO      ?= cargo
INSTALL    ?= install

# Where cargo puts the release build (honours CARGO_TARGET_DIR).
TARGET_DIR ?= $(if $(CARGO_TARGET_DIR),$(CARGO_TARGET_DIR),target)
PROFILE    ?= release
BUILD      ?= $(TARGET_DIR)/$(PROFILE)

VERSION := $(shell sed -n 's/^version *= *"\([^"]*\)".*/\1/p' Cargo.toml | head -n 1)

# The system libraries a program needs besides libens_upload.a, from
# `cargo rustc --release --lib --crate-type staticlib -- --print native-static-libs`
# (Linux, glibc).
NATIVE_STATIC_LIBS = -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc

all: build

build:
	$(CARGO) build --profile $(PROFILE) --lib

install: $(if $(NO_BUILD),,build)
	$(INSTALL) -d $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(PKGCONFIGDIR)
	$(INSTALL) -m 644 include/ens_upload.h $(DESTDIR)$(INCLUDEDIR)/ens_upload.h
	$(INSTALL) -m 644 $(BUILD)/libens_upload.a $(DESTDIR)$(LIBDIR)/libens_upload.a
	$(INSTALL) -m 755 $(BUILD)/libens_upload.so $(DESTDIR)$(LIBDIR)/libens_upload.so
	sed -e 's|@PREFIX@|$(PREFIX)|g' \
	    -e 's|@LIBDIR@|$(LIBDIR)|g' \
	    -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' \
	    -e 's|@VERSION@|$(VERSION)|g' \
	    -e 's|@NATIVE_STATIC_LIBS@|$(NATIVE_STATIC_LIBS)|g' \
	    ens_upload.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/ens_upload.pc
	chmod 644 $(DESTDIR)$(PKGCONFIGDIR)/ens_upload.pc

uninstall:
	rm -f $(DESTDIR)$(INCLUDEDIR)/ens_upload.h \
	      $(DESTDIR)$(LIBDIR)/libens_upload.a \
	      $(DESTDIR)$(LIBDIR)/libens_upload.so \
	      $(DESTDIR)$(PKGCONFIGDIR)/ens_upload.pc

.PHONY: all build install uninstall
