/* SPDX-License-Identifier: MIT */
/* libFuzzer entry point for the history file parser (see fuzz_request.c). */
#include <stddef.h>
#include <stdint.h>

#include "fuzz.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_history_one(data, size);
}
