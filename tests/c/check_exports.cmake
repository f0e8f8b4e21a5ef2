# ctest exports_only_ws: libwsclient.so must export ws_* functions and
# nothing else (no Rust std, tungstenite or OpenSSL symbols leaking into the
# C programs' namespace).
#   cmake -DNM=nm -DLIB=libwsclient.so -P check_exports.cmake
#
# rustc links cdylibs with a version script that makes everything but the
# #[no_mangle] pub extern "C" functions local, so no toolchain symbols are
# expected. Should a toolchain add some (e.g. _init/_fini on other
# platforms), list them in `allowed` with the reason.

cmake_minimum_required(VERSION 3.16)

set(allowed "")

if(NOT EXISTS "${LIB}")
  message(FATAL_ERROR "${LIB} does not exist (build first)")
endif()
execute_process(COMMAND "${NM}" -D --defined-only "${LIB}"
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${NM} -D --defined-only failed: ${err}")
endif()

string(REPLACE "\n" ";" lines "${out}")
set(bad "")
set(count 0)
foreach(line IN LISTS lines)
  # "<address> <type> <name>[@@version]"
  if(line MATCHES "^[0-9a-fA-F]* *([A-Za-z]) ([^ @]+)")
    set(type "${CMAKE_MATCH_1}")
    set(name "${CMAKE_MATCH_2}")
    # The version-node definition itself (type A) is not a symbol users see.
    if(type STREQUAL "A")
      continue()
    endif()
    if(name MATCHES "^ws_[a-z_]+$")
      math(EXPR count "${count} + 1")
    elseif(NOT name IN_LIST allowed)
      list(APPEND bad "${type} ${name}")
    endif()
  endif()
endforeach()

message(STATUS "${count} ws_* symbols exported")
if(bad)
  string(REPLACE ";" "\n  " bad "${bad}")
  message(FATAL_ERROR "unexpected exported symbols:\n  ${bad}")
endif()
if(count LESS 17)
  message(FATAL_ERROR "only ${count} ws_* symbols exported; expected the whole C API")
endif()
