# Run by `cmake --install` (install(CODE) at the end of CMakeLists.txt):
# strips every ELF program and shared library installed so far and keeps its
# debug information in a separate file, the way distributions ship -dbg /
# -dbgsym packages:
#
#   <prefix>/<WSCLIENT_DEBUGDIR>/.build-id/ab/cdef....debug
#
# (gdb finds it by the build ID when its debug-file-directory is
# <prefix>/lib/debug; that is the default for prefix /usr). Files without a
# build ID go to <prefix>/<WSCLIENT_DEBUGDIR><absolute directory>/<name>.debug,
# the path gdb derives from the .gnu_debuglink section. Static archives get
# `objcopy --strip-debug` (a .debug file cannot be attached to an archive)
# and lose the LLVM bitcode sections of Rust's standard library objects.
#
# Input variables: WSCLIENT_OBJCOPY, WSCLIENT_READELF, WSCLIENT_DEBUGDIR, and
# those of every install script: CMAKE_INSTALL_PREFIX, CMAKE_INSTALL_MANIFEST_FILES
# (what the rules before this one installed), $ENV{DESTDIR}.

set(_destdir "$ENV{DESTDIR}")
set(_debug_root "${_destdir}${CMAKE_INSTALL_PREFIX}/${WSCLIENT_DEBUGDIR}")

function(_wsclient_run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    string(REPLACE ";" " " cmd "${ARGN}")
    message(FATAL_ERROR "${cmd} failed (${rc}): ${err}")
  endif()
  set(_out "${out}" PARENT_SCOPE)
endfunction()

set(_added "")
set(_files ${CMAKE_INSTALL_MANIFEST_FILES})
list(REMOVE_DUPLICATES _files)
foreach(_f IN LISTS _files)
  if(NOT EXISTS "${_f}" AND EXISTS "${_destdir}${_f}")
    set(_f "${_destdir}${_f}")
  endif()
  if(IS_SYMLINK "${_f}" OR IS_DIRECTORY "${_f}" OR NOT EXISTS "${_f}")
    continue()
  endif()
  file(READ "${_f}" _magic LIMIT 8 HEX)
  if(_magic STREQUAL "213c617263683e0a")  # "!<arch>\n"
    # .llvmbc/.llvmcmd: LLVM bitcode that Rust's standard library objects
    # carry for cross-language LTO with clang; a plain link never reads it,
    # and it is two thirds of the archive.
    _wsclient_run("${WSCLIENT_OBJCOPY}" --strip-debug --remove-section=.llvmbc --remove-section=.llvmcmd
                  --enable-deterministic-archives "${_f}")
    message(STATUS "Stripped debug information and LLVM bitcode: ${_f}")
    continue()
  endif()
  if(NOT _magic MATCHES "^7f454c46")  # not ELF
    continue()
  endif()

  _wsclient_run("${WSCLIENT_READELF}" -S -W "${_f}")
  set(_sections "${_out}")
  _wsclient_run("${WSCLIENT_READELF}" -n "${_f}")
  set(_build_id "")
  if(_out MATCHES "Build ID: ([0-9a-f]+)")
    set(_build_id "${CMAKE_MATCH_1}")
  endif()
  get_filename_component(_name "${_f}" NAME)
  get_filename_component(_dir "${_f}" DIRECTORY)
  if(_build_id MATCHES "^(..)(.+)$")
    set(_dbg "${_debug_root}/.build-id/${CMAKE_MATCH_1}/${CMAKE_MATCH_2}.debug")
  else()
    # <debugdir> + the directory the program will have at run time
    string(LENGTH "${_destdir}" _n)
    string(SUBSTRING "${_dir}" ${_n} -1 _rundir)
    set(_dbg "${_debug_root}${_rundir}/${_name}.debug")
  endif()

  if(NOT _sections MATCHES "\\] \\.(debug_info|symtab) ")
    # Already stripped (e.g. reinstalled unchanged): keep its debug file listed.
    if(EXISTS "${_dbg}" AND _sections MATCHES "\\.gnu_debuglink")
      list(APPEND _added "${_dbg}")
    endif()
    continue()
  endif()

  get_filename_component(_dbg_dir "${_dbg}" DIRECTORY)
  file(MAKE_DIRECTORY "${_dbg_dir}")
  _wsclient_run("${WSCLIENT_OBJCOPY}" --only-keep-debug --compress-debug-sections=zlib "${_f}" "${_dbg}")
  _wsclient_run(chmod 644 "${_dbg}")  # data, not a program
  # Programs lose every symbol table entry; shared objects keep what
  # relocations need (their exported symbols are in .dynsym either way).
  if(_name MATCHES "\\.so(\\.[0-9]+)*$")
    set(_strip --strip-unneeded)
  else()
    set(_strip --strip-all)
  endif()
  _wsclient_run("${WSCLIENT_OBJCOPY}" ${_strip} --remove-section=.comment
                "--add-gnu-debuglink=${_dbg}" "${_f}")
  message(STATUS "Stripped: ${_f} (debug information: ${_dbg})")
  list(APPEND _added "${_dbg}")
endforeach()

# So that install_manifest.txt (and with it packaging and uninstalling)
# knows the debug files too.
list(APPEND CMAKE_INSTALL_MANIFEST_FILES ${_added})
