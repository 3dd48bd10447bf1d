/* SPDX-License-Identifier: MIT */
/* libFuzzer entry point for gwctl's reply decoding and printing
 * (see fuzz_reply.c). */
#include <stddef.h>
#include <stdint.h>

#include "fuzz.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_reply_one(data, size);
}
