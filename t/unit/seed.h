
/*
 * The published example's stops, as fixtures/seed-session.redis stores
 * them: shared by the unit tests of the parser and of the builder.
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


#endif /* _SEED_H_INCLUDED_ */
