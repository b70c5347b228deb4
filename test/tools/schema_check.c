/*
 * schema_check.c - validate JSON documents against a JSON Schema with our own validator
 * (common/jsonschema.c): `schema_check SCHEMA FILE`, FILE holding one JSON document a line.
 * Prints every error with the line number and exits 1 when any document is invalid.
 *
 * The integration tests use it to check real events, as the API returns them, against
 * schemas/event.schema.json.
 */
#include "jsonschema.h"
#include "xalloc.h"
#include "../readfile.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    char err[512];
    int status = 1;
    struct jsonschema *js = NULL;
    if (argc != 3) {
        fprintf(stderr, "usage: schema_check SCHEMA FILE\n");
        return 2;
    }
    char *schema_text = readfile(argv[1]);
    char *docs = readfile(argv[2]);
    if (schema_text == NULL || docs == NULL) {
        fprintf(stderr, "schema_check: cannot read %s\n", schema_text ? argv[2] : argv[1]);
        goto out;
    }
    cJSON *schema = cJSON_Parse(schema_text);
    if (schema == NULL || jsonschema_compile(schema, &js, err, sizeof(err)) != 0) {
        fprintf(stderr, "schema_check: %s: %s\n", argv[1], schema ? err : "not json");
        cJSON_Delete(schema);
        goto out;
    }
    cJSON_Delete(schema);
    status = 0;
    int line = 0, count = 0;
    for (char *p = docs, *nl; *p; p = nl ? nl + 1 : p + strlen(p)) {
        nl = strchr(p, '\n');
        if (nl)
            *nl = '\0';
        line++;
        if (*p == '\0')
            continue;
        count++;
        cJSON *doc = cJSON_Parse(p);
        cJSON *errors = cJSON_CreateArray();
        if (doc == NULL) {
            printf("line %d: not json\n", line);
            status = 1;
        } else if (!jsonschema_validate(js, doc, errors, 20)) {
            status = 1;
            for (const cJSON *e = errors->child; e; e = e->next) {
                char *s = cJSON_PrintUnformatted(e);
                printf("line %d: %s\n", line, s);
                free(s);
            }
        }
        cJSON_Delete(errors);
        cJSON_Delete(doc);
    }
    printf("%d documents checked against %s: %s\n", count, argv[1], status ? "INVALID" : "valid");
out:
    jsonschema_free(js);
    free(schema_text);
    free(docs);
    return status;
}
