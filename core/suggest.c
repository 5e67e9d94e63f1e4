/*
 * suggest.c -- "did you mean": the name a mistyped one most likely meant,
 * for the messages that name an unknown JSONL key (store/jsonl.c) or an
 * unknown MCP tool argument (cli/mcp.c).
 *
 * The measure is the optimal-string-alignment distance (Damerau 1964's
 * edits -- insertion, deletion, substitution -- and the swap of two
 * adjacent letters, each cost 1, no substring edited twice), ASCII case
 * ignored: a key typed "Text" or "vecotr" is one edit from its field.
 * Deviations from plain nearest-neighbour matching:
 *  1. A threshold by length: within one edit of a name of up to four
 *     letters, two of a longer one.  One edit turns "id" into "ip" or
 *     "txt" into "text"; two would make every short word a near miss.
 *  2. Containment counts as near (3 letters or more): "meta" is in
 *     "metadata" and "budget" in "token_budget", four and six edits
 *     away, and both are what a user who wrote one meant by the other.
 *  3. Ties go to the name listed first, so callers order their lists by
 *     importance.
 */
#include <stddef.h>
#include <string.h>

#include "core/err.h"

#define LONGEST 32 /* longer words are compared by containment only */

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

static size_t osa(const char *a, const char *b)
{
    size_t n = strlen(a), m = strlen(b), d[LONGEST + 1][LONGEST + 1];
    if (n > LONGEST || m > LONGEST)
        return (size_t)-1;
    for (size_t i = 0; i <= n; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= m; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= n; i++)
        for (size_t j = 1; j <= m; j++) {
            size_t v = d[i - 1][j - 1] + (lower(a[i - 1]) != lower(b[j - 1]));
            if (d[i - 1][j] + 1 < v)
                v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v)
                v = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && lower(a[i - 1]) == lower(b[j - 2]) &&
                lower(a[i - 2]) == lower(b[j - 1]) && d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    return d[n][m];
}

CVS_API const char *cvs_suggest(const char *word, const char *const *names, size_t n)
{
    const char *best = NULL;
    size_t bestd = (size_t)-1;
    if (!word || !names)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        size_t d = osa(word, names[i]), most = strlen(names[i]) <= 4 ? 1 : 2;
        if (d > most && strlen(word) >= 3 && strlen(names[i]) >= 3 &&
            (strstr(names[i], word) || strstr(word, names[i])))
            d = most; /* deviation 2 */
        if (d <= most && d < bestd) {
            best = names[i];
            bestd = d;
        }
    }
    return best;
}
