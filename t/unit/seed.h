
/*
 * The published example as fixtures/seed-session.redis stores it: its hash
 * fields and its stops, shared by the unit tests of the parser and of the
 * builder and by bench/render.c.  Include after ngx_session_data.h.
 */

#ifndef _SEED_H_INCLUDED_
#define _SEED_H_INCLUDED_


static const char  *seed_stops[] = {
    "{\"timestamp\":\"2024-08-19 20:56:25.223174\","
    "\"type\":\"NEW REGISTRATION\",\"source\":\"\",\"status\":\"\","
    "\"action\":\"\",\"detail\":\"\"}",

    "{\"timestamp\":\"2024-08-19 20:56:41.280685\","
    "\"type\":\"Data Service\",\"source\":\"PhoneMatch5.0.Smart2FA.SMS\","
    "\"status\":\"PENDING\",\"action\":\"PENDING\","
    "\"detail\":\"MORE INFORMATION IS REQUIRED\"}",

    "{\"timestamp\":\"2024-08-19 20:56:57.448256\","
    "\"type\":\"Data Service\",\"source\":\"PhoneMatch5.0.Smart2FA.SMS\","
    "\"status\":\"PASS\",\"action\":\"PASS\","
    "\"detail\":\"ALL CHECKS PASSED\"}"
};


typedef struct {
    ngx_session_field_e   field;
    const char           *value;
} seed_field_t;


static const seed_field_t  seed_fields[] = {
    { NGX_SESSION_FN, "John" },
    { NGX_SESSION_LN, "Doe" },
    { NGX_SESSION_ADDR, "" },
    { NGX_SESSION_CITY, "" },
    { NGX_SESSION_STATE, "" },
    { NGX_SESSION_ZIP, "" },
    { NGX_SESSION_DOB, "19900101" },
    { NGX_SESSION_EMAIL, "johndoe@example.com" },
    { NGX_SESSION_PHONE, "123-456-7890" },
    { NGX_SESSION_REFERENCE, "" },
    { NGX_SESSION_STATUS, "PASS" },
    { NGX_SESSION_REQUEST_ID, "19fe3b9e-384e-41d1-bded-8de9ef3abacb" },
    { NGX_SESSION_OWNER, "client-a" },
    { NGX_SESSION_ADDITIONAL_DATA, "[]" },
    { NGX_SESSION_DCAMS_PLUS,
      "{\"document_data\":{},\"output\":{\"vpin\":{}},"
      "\"api_processing_error\":false,"
      "\"service\":\"PhoneMatch5.0.Smart2FA.SMS\","
      "\"confirmation\":180603431,\"action\":\"PASS\","
      "\"detail\":\"ALL CHECKS PASSED\","
      "\"issues\":[\"OUT-OF-BAND SUCCESSFUL\"]}" },
    { NGX_SESSION_STORAGE, "{\"success\":null}" },
    { NGX_SESSION_DOCUMENTS, "null" }
};

#define SEED_NFIELDS  (sizeof(seed_fields) / sizeof(seed_fields[0]))


#endif /* _SEED_H_INCLUDED_ */
