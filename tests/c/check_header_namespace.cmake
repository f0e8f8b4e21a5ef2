# ctest header_namespace: every macro include/wsclient.h defines starts with
# WS_ or WSCLIENT_ (C has one namespace; a header must not take names like
# QUEUE_HIGH_WATER from its users, as one cbindgen run once did).
#   cmake -DCC=cc -DINCLUDE_DIR=include -DWORK_DIR=dir -P check_header_namespace.cmake
#
# Macros from the system headers it may include (stddef.h, stdint.h,
# stdbool.h) are subtracted by preprocessing those alone.
cmake_minimum_required(VERSION 3.16)

file(MAKE_DIRECTORY "${WORK_DIR}")
file(WRITE "${WORK_DIR}/baseline.c" "#include <stddef.h>\n#include <stdint.h>\n#include <stdbool.h>\n")
file(WRITE "${WORK_DIR}/header.c" "#include <stddef.h>\n#include <stdint.h>\n#include <stdbool.h>\n#include \"wsclient.h\"\n")

function(macros source out)
  execute_process(COMMAND "${CC}" -std=c99 -E -dM -I "${INCLUDE_DIR}" "${source}"
    RESULT_VARIABLE rc OUTPUT_VARIABLE text ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${CC} -E -dM ${source} failed: ${err}")
  endif()
  string(REGEX MATCHALL "#define [A-Za-z_][A-Za-z0-9_]*" defs "${text}")
  list(TRANSFORM defs REPLACE "^#define " "")
  set(${out} "${defs}" PARENT_SCOPE)
endfunction()

macros("${WORK_DIR}/baseline.c" base)
macros("${WORK_DIR}/header.c" all)
list(REMOVE_ITEM all ${base})
set(bad "")
foreach(m IN LISTS all)
  if(NOT m MATCHES "^(WS_|WSCLIENT_)")
    list(APPEND bad "${m}")
  endif()
endforeach()
list(LENGTH all n)
message(STATUS "${n} macros from wsclient.h")
if(bad)
  string(REPLACE ";" " " bad "${bad}")
  message(FATAL_ERROR "wsclient.h defines macros outside WS_/WSCLIENT_: ${bad}")
endif()
