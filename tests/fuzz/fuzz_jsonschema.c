/* sources: lib/jsonschema.c lib/utf8.c lib/sl.c */
/* The JSON Schema subset of task schemas: the input is a schema followed by
 * a value (two JSON documents back to back; without a second one the
 * schema is validated against itself). Config schemas are operator input
 * and values are model output, so both sides are fuzzed. Checks
 * jsonschema.h's promise that messages are one printable line. */
#include <stdint.h>

#include <cjson/cJSON.h>

#include "fuzz_util.h"
#include "jsonschema.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = fuzz_bytes(data, size);
    const char *end = NULL;
    cJSON *schema = cJSON_ParseWithLengthOpts(buf, size, &end, 0);
    if (!schema) {
        free(buf);
        return 0;
    }
    size_t used = (size_t)(end - buf);
    cJSON *value = used < size
        ? cJSON_ParseWithLength(buf + used, size - used) : NULL;

    char err[256];
    err[0] = '\0';
    int rc = jsonschema_check_schema(schema, err, sizeof(err));
    FUZZ_CHECK(rc == 0 || rc == SL_EINVAL);
    FUZZ_CHECK(fuzz_printable(err));
    err[0] = '\0';
    int vrc = jsonschema_validate(schema, value ? value : schema, err,
                                  sizeof(err));
    FUZZ_CHECK(vrc == 0 || vrc == SL_EINVAL);
    FUZZ_CHECK(fuzz_printable(err));
    /* A schema that fails the check never validates anything. */
    if (rc != 0)
        FUZZ_CHECK(vrc == SL_EINVAL);
    cJSON_Delete(value);
    cJSON_Delete(schema);
    free(buf);
    return 0;
}
