# SPDX-License-Identifier: GPL-2.0
# sockhost_bpf_object(<name> OUT_DIR <dir> SOURCE <file.bpf.c> [HEADERS <h>...] [NOBTF])
#
# Compiles one BPF object with clang (CO-RE against the generated vmlinux.h, -target bpf, the
# build machine's arch for PT_REGS and friends). It depends on its own source and the headers
# it names, plus the SDK in include/sockhost: nothing else, so editing one tool's header
# rebuilds that tool only. The object's path is left in ${name}_OBJECT for the caller's
# custom target. NOBTF builds without -g (a fixture with no BTF at all).
include_guard(GLOBAL)

# __TARGET_ARCH_<arch> as libbpf's bpf_tracing.h spells it, from the build machine.
string(TOLOWER "${CMAKE_SYSTEM_PROCESSOR}" _sh_proc)
if(_sh_proc MATCHES "^(x86_64|amd64|i[3-6]86)$")
	set(SOCKHOST_BPF_ARCH x86)
elseif(_sh_proc MATCHES "^(aarch64|arm64)$")
	set(SOCKHOST_BPF_ARCH arm64)
elseif(_sh_proc MATCHES "^arm")
	set(SOCKHOST_BPF_ARCH arm)
elseif(_sh_proc MATCHES "^(ppc64|ppc64le|powerpc64)")
	set(SOCKHOST_BPF_ARCH powerpc)
elseif(_sh_proc MATCHES "^s390")
	set(SOCKHOST_BPF_ARCH s390)
elseif(_sh_proc MATCHES "^riscv")
	set(SOCKHOST_BPF_ARCH riscv)
elseif(_sh_proc MATCHES "^loongarch")
	set(SOCKHOST_BPF_ARCH loongarch)
elseif(_sh_proc MATCHES "^mips")
	set(SOCKHOST_BPF_ARCH mips)
else()
	message(FATAL_ERROR "sockhost: no BPF target arch known for processor '${CMAKE_SYSTEM_PROCESSOR}'")
endif()

set(SOCKHOST_SDK_HEADERS
	${CMAKE_SOURCE_DIR}/include/sockhost/sockhost.bpf.h
	${CMAKE_SOURCE_DIR}/include/sockhost/log.h)

function(sockhost_bpf_object name)
	cmake_parse_arguments(ARG "NOBTF" "OUT_DIR;SOURCE" "HEADERS" ${ARGN})
	if(NOT ARG_SOURCE OR NOT ARG_OUT_DIR)
		message(FATAL_ERROR "sockhost_bpf_object(${name}): SOURCE and OUT_DIR are required")
	endif()
	get_filename_component(src ${ARG_SOURCE} ABSOLUTE)
	get_filename_component(srcdir ${src} DIRECTORY)
	set(obj ${ARG_OUT_DIR}/${name}.bpf.o)
	set(hdrs)
	foreach(h ${ARG_HEADERS})
		get_filename_component(abs ${h} ABSOLUTE)
		list(APPEND hdrs ${abs})
	endforeach()
	set(debug -g)
	if(ARG_NOBTF)
		set(debug)
	endif()
	add_custom_command(OUTPUT ${obj}
		COMMAND ${CMAKE_COMMAND} -E make_directory ${ARG_OUT_DIR}
		COMMAND ${CLANG} ${debug} -O2 -target bpf -mcpu=v3 -D__TARGET_ARCH_${SOCKHOST_BPF_ARCH}
			-Wall -Wno-unused-function -I${VMLINUX_DIR} -I${CMAKE_SOURCE_DIR}/include
			-I${srcdir} -c ${src} -o ${obj}
		DEPENDS ${src} ${hdrs} ${SOCKHOST_SDK_HEADERS} ${VMLINUX_DIR}/vmlinux.h
		COMMENT "BPF ${name}.bpf.o")
	set(${name}_OBJECT ${obj} PARENT_SCOPE)
endfunction()
