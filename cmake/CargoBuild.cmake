# Runs cargo for CMakeLists.txt (cmake -P), then records and checks the
# system libraries the static library needs.
#
# Input variables (-D):
#   CARGO               cargo executable
#   MANIFEST            path of Cargo.toml
#   PROFILE             cargo profile: release or dev
#   TARGET_DIR          CARGO_TARGET_DIR (inside the CMake binary dir)
#   CARGO_FLAGS         extra cargo arguments, separated by '|' (may be empty)
#   NATIVE_LIBS_FILE    where to write the detected list (one name per line)
#   EXPECTED_LIBS       the list the imported target wsclient::static and the
#                       installed package use, separated by '|'
#   SONAME_LINK         the shared library's SONAME (libwsclient.so.0), made a
#                       link to libwsclient.so in cargo's output directory so
#                       that programs linked in the build tree find it at run
#                       time (build.rs makes it too; empty: none)
#
# Why RUSTFLAGS: rustc prints "note: native-static-libs: ..." only while it
# links the staticlib. Passing --print through RUSTFLAGS (instead of
# `cargo rustc -- --print ...`) gives every unit the same flags, so the
# library is compiled once for both the libraries and the echo server binary
# (which depends on the lib) and cargo stays a fast no-op when nothing
# changed. Cargo replays a fresh unit's cached diagnostics, so the note is
# seen on no-op builds too; if not, the file from the last build is kept.

cmake_minimum_required(VERSION 3.16)

foreach(v CARGO MANIFEST PROFILE TARGET_DIR NATIVE_LIBS_FILE)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "CargoBuild.cmake: ${v} is not set")
  endif()
endforeach()

string(REPLACE "|" ";" _flags "${CARGO_FLAGS}")
string(REPLACE "|" ";" _expected "${EXPECTED_LIBS}")

set(ENV{CARGO_TARGET_DIR} "${TARGET_DIR}")
set(_rustflags "$ENV{RUSTFLAGS}")
if(NOT _rustflags MATCHES "native-static-libs")
  string(STRIP "${_rustflags} --print=native-static-libs" _rustflags)
endif()
set(ENV{RUSTFLAGS} "${_rustflags}")

set(_cmd "${CARGO}" build --manifest-path "${MANIFEST}" --profile "${PROFILE}"
         --lib --bin wsclient-echo-server --bin wsclient-scale-server --bin wsclient-deflate-echo-server ${_flags})
string(REPLACE ";" " " _shown "${_cmd}")
message(STATUS "RUSTFLAGS='${_rustflags}' CARGO_TARGET_DIR=${TARGET_DIR} ${_shown}")

# cargo's progress goes to stderr; show it live where CMake can (3.18+).
if(CMAKE_VERSION VERSION_GREATER_EQUAL 3.18)
  execute_process(COMMAND ${_cmd}
    RESULT_VARIABLE _rc
    ERROR_VARIABLE _err
    ECHO_ERROR_VARIABLE)
else()
  execute_process(COMMAND ${_cmd} RESULT_VARIABLE _rc ERROR_VARIABLE _err)
  message("${_err}")
endif()
if(NOT _rc EQUAL 0)
  message(FATAL_ERROR "cargo build failed (${_rc})")
endif()

if(SONAME_LINK)
  if(PROFILE STREQUAL "dev")
    set(_outdir "${TARGET_DIR}/debug")
  else()
    set(_outdir "${TARGET_DIR}/${PROFILE}")
  endif()
  if(NOT EXISTS "${_outdir}/${SONAME_LINK}" AND NOT IS_SYMLINK "${_outdir}/${SONAME_LINK}")
    file(CREATE_LINK "libwsclient.so" "${_outdir}/${SONAME_LINK}" SYMBOLIC)
  endif()
endif()

string(REGEX MATCH "native-static-libs: ([^\r\n]*)" _m "${_err}")
if(NOT _m)
  if(NOT EXISTS "${NATIVE_LIBS_FILE}")
    message(WARNING "cargo did not print native-static-libs; cannot check the "
                    "link line of wsclient::static (expected: ${_expected})")
  endif()
  return()
endif()

# "-lssl -lcrypto -lgcc_s ..." -> ssl;crypto;gcc_s;... (other linker
# arguments such as -framework on macOS are kept as they are).
string(STRIP "${CMAKE_MATCH_1}" _raw)
separate_arguments(_args UNIX_COMMAND "${_raw}")
set(_libs "")
foreach(a IN LISTS _args)
  if(a MATCHES "^-l(.+)$")
    list(APPEND _libs "${CMAKE_MATCH_1}")
  else()
    list(APPEND _libs "${a}")
  endif()
endforeach()

string(REPLACE ";" "\n" _content "${_libs}")
set(_content "${_content}\n")
set(_old "")
if(EXISTS "${NATIVE_LIBS_FILE}")
  file(READ "${NATIVE_LIBS_FILE}" _old)
endif()
if(NOT _old STREQUAL _content)
  file(WRITE "${NATIVE_LIBS_FILE}" "${_content}")
endif()

set(_missing "")
foreach(l IN LISTS _libs)
  list(FIND _expected "${l}" _i)
  if(_i LESS 0)
    list(APPEND _missing "${l}")
  endif()
endforeach()
if(_missing)
  string(REPLACE ";" " " _m "${_missing}")
  string(REPLACE ";" " " _e "${_expected}")
  string(REPLACE ";" " " _d "${_libs}")
  message(FATAL_ERROR
    "The static library needs system libraries that wsclient::static does not "
    "link: ${_m}\n"
    "  rustc reports:     ${_d}\n"
    "  configured list:   ${_e}\n"
    "Run cmake again: it reads the detected list from ${NATIVE_LIBS_FILE} "
    "(or set -DWSCLIENT_NATIVE_STATIC_LIBS=...).")
endif()
