/* sources: lib/tier0/tier0_model.c lib/tier0/tier0_features.c lib/sl.c */
/* The tier-0 model blob as read back from PostgreSQL:
 * tier0_model_deserialize, and for a blob it accepts, predictions on a few
 * texts (every bucket and weight lookup) and tier0_model_serialize, which
 * tier0_model.h promises gives the same bytes back. */
#include <math.h>
#include <stdint.h>

#include "fuzz_util.h"
#include "tier0/tier0_model.h"

static const char *const texts[] = {
    "", "refund my order please", "Wo ist mein Paket? \xc3\xa9t\xc3\xa9",
    "a b c d e f g h i j k l m n o p q r s t u v w x y z 0 1 2 3 4 5 6 7 8 9",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *buf = (uint8_t *)fuzz_bytes(data, size);
    struct tier0_model *m = NULL;
    char err[256];
    if (tier0_model_deserialize(buf, size, &m, err, sizeof(err)) != SL_OK) {
        FUZZ_CHECK(m == NULL);
        free(buf);
        return 0;
    }
    size_t n = tier0_model_n_labels(m);
    FUZZ_CHECK(n >= 2 && n <= TIER0_MAX_LABELS);
    for (size_t c = 0; c < n; c++) {
        const char *label = tier0_model_label(m, c);
        FUZZ_CHECK(label && label[0] && strlen(label) <= TIER0_MAX_LABEL_LEN);
    }
    for (size_t i = 0; i < SL_ARRAY_LEN(texts); i++) {
        int label = -1;
        double score = -1;
        tier0_model_predict(m, texts[i], &label, &score);
        FUZZ_CHECK(label >= 0 && (size_t)label < n);
        FUZZ_CHECK(isnan(score) || (score >= 0 && score <= 1));
    }
    size_t out_size = 0;
    uint8_t *out = tier0_model_serialize(m, &out_size);
    FUZZ_CHECK(out_size == size && memcmp(out, buf, size) == 0);
    free(out);
    tier0_model_free(m);
    free(buf);
    return 0;
}
