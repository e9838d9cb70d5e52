/*
 * c2d_check: a device that receives cloud-to-device messages through the
 * Azure IoT C device SDK's public API, on the transport named on its command
 * line, and reports every message it got on stdout for run.js to check.
 *
 * Usage: c2d_check <mqtt|mqtt-ws|amqp|amqp-ws|http> <ca-pem-file> <seconds> [trace]
 * The device connection string comes in C2D_CHECK_CONNECTION_STRING (an
 * environment variable, so the key is not visible in the process list).
 *
 * Output, one record a line, values hex-encoded so any byte survives:
 *   status <AUTHENTICATED|UNAUTHENTICATED> <reason>
 *   message-id <hex> / correlation-id <hex> / body <hex> / property <hex> <hex>
 *   end-message
 * Every message is accepted (IOTHUBMESSAGE_ACCEPTED). The program keeps the
 * connection (and so the settlement on its way) until stdin reaches its end,
 * which is how run.js says it has seen the hub's feedback, or until <seconds>
 * pass. Exit status: 0 when at least one message arrived, 2 when none did,
 * 1 when the client could not be set up.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "iothub.h"
#include "iothub_device_client_ll.h"
#include "iothub_client_options.h"
#include "iothub_message.h"
#include "iothubtransportamqp.h"
#include "iothubtransportamqp_websockets.h"
#include "iothubtransporthttp.h"
#include "iothubtransportmqtt.h"
#include "iothubtransportmqtt_websockets.h"
#include "azure_c_shared_utility/map.h"
#include "azure_c_shared_utility/shared_util_options.h"
/* SDKs that log through c-logging abort on their first log line unless the
 * application has initialized it; older SDKs have no c-logging. */
#if defined(__has_include)
#if __has_include("c_logging/logger.h")
#include "c_logging/logger.h"
#define C2D_CHECK_HAS_C_LOGGING 1
#endif
#endif

static size_t messages_received = 0;

static void print_hex(const unsigned char* bytes, size_t size)
{
    size_t i;
    for (i = 0; i < size; i++)
    {
        printf("%02x", bytes[i]);
    }
}

static void print_field(const char* name, const char* value)
{
    if (value != NULL)
    {
        printf("%s ", name);
        print_hex((const unsigned char*)value, strlen(value));
        printf("\n");
    }
}

static IOTHUBMESSAGE_DISPOSITION_RESULT on_message(IOTHUB_MESSAGE_HANDLE message, void* context)
{
    const unsigned char* body = NULL;
    size_t body_size = 0;
    MAP_HANDLE properties;
    (void)context;

    print_field("message-id", IoTHubMessage_GetMessageId(message));
    print_field("correlation-id", IoTHubMessage_GetCorrelationId(message));
    if (IoTHubMessage_GetContentType(message) == IOTHUBMESSAGE_BYTEARRAY)
    {
        if (IoTHubMessage_GetByteArray(message, &body, &body_size) != IOTHUB_MESSAGE_OK)
        {
            body = NULL;
            body_size = 0;
        }
    }
    else
    {
        const char* text = IoTHubMessage_GetString(message);
        if (text != NULL)
        {
            body = (const unsigned char*)text;
            body_size = strlen(text);
        }
    }
    printf("body ");
    print_hex(body, body_size);
    printf("\n");

    properties = IoTHubMessage_Properties(message);
    if (properties != NULL)
    {
        const char* const* keys;
        const char* const* values;
        size_t count = 0;
        size_t i;
        if (Map_GetInternals(properties, &keys, &values, &count) == MAP_OK)
        {
            for (i = 0; i < count; i++)
            {
                printf("property ");
                print_hex((const unsigned char*)keys[i], strlen(keys[i]));
                printf(" ");
                print_hex((const unsigned char*)values[i], strlen(values[i]));
                printf("\n");
            }
        }
    }
    printf("end-message\n");
    fflush(stdout);
    messages_received++;
    return IOTHUBMESSAGE_ACCEPTED;
}

static const char* reason_name(IOTHUB_CLIENT_CONNECTION_STATUS_REASON reason)
{
    switch (reason)
    {
    case IOTHUB_CLIENT_CONNECTION_EXPIRED_SAS_TOKEN: return "EXPIRED_SAS_TOKEN";
    case IOTHUB_CLIENT_CONNECTION_DEVICE_DISABLED: return "DEVICE_DISABLED";
    case IOTHUB_CLIENT_CONNECTION_BAD_CREDENTIAL: return "BAD_CREDENTIAL";
    case IOTHUB_CLIENT_CONNECTION_RETRY_EXPIRED: return "RETRY_EXPIRED";
    case IOTHUB_CLIENT_CONNECTION_NO_NETWORK: return "NO_NETWORK";
    case IOTHUB_CLIENT_CONNECTION_COMMUNICATION_ERROR: return "COMMUNICATION_ERROR";
    case IOTHUB_CLIENT_CONNECTION_OK: return "OK";
    case IOTHUB_CLIENT_CONNECTION_NO_PING_RESPONSE: return "NO_PING_RESPONSE";
    default: return "OTHER";
    }
}

static void on_connection_status(IOTHUB_CLIENT_CONNECTION_STATUS status, IOTHUB_CLIENT_CONNECTION_STATUS_REASON reason, void* context)
{
    (void)context;
    printf("status %s %s\n", status == IOTHUB_CLIENT_CONNECTION_AUTHENTICATED ? "AUTHENTICATED" : "UNAUTHENTICATED", reason_name(reason));
    fflush(stdout);
}

static IOTHUB_CLIENT_TRANSPORT_PROVIDER transport_named(const char* name)
{
    if (strcmp(name, "mqtt") == 0) return MQTT_Protocol;
    if (strcmp(name, "mqtt-ws") == 0) return MQTT_WebSocket_Protocol;
    if (strcmp(name, "amqp") == 0) return AMQP_Protocol;
    if (strcmp(name, "amqp-ws") == 0) return AMQP_Protocol_over_WebSocketsTls;
    if (strcmp(name, "http") == 0) return HTTP_Protocol;
    return NULL;
}

static char* read_file(const char* path)
{
    FILE* f = fopen(path, "rb");
    char* text = NULL;
    long size;
    if (f == NULL)
    {
        return NULL;
    }
    if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0)
    {
        text = malloc((size_t)size + 1);
        if (text != NULL)
        {
            if (fread(text, 1, (size_t)size, f) != (size_t)size)
            {
                free(text);
                text = NULL;
            }
            else
            {
                text[size] = '\0';
            }
        }
    }
    fclose(f);
    return text;
}

/* True once stdin has reached its end (run.js closes it when it is done). */
static int stdin_closed(void)
{
    struct pollfd p;
    char buffer[64];
    p.fd = 0;
    p.events = POLLIN;
    p.revents = 0;
    if (poll(&p, 1, 0) > 0)
    {
        ssize_t n = read(0, buffer, sizeof(buffer));
        return n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN);
    }
    return 0;
}

int main(int argc, char** argv)
{
    IOTHUB_CLIENT_TRANSPORT_PROVIDER protocol;
    const char* connection_string = getenv("C2D_CHECK_CONNECTION_STRING");
    char* ca_pem;
    long seconds;
    time_t deadline;
    IOTHUB_DEVICE_CLIENT_LL_HANDLE client;
    int result = 1;

    if (argc < 4 || (protocol = transport_named(argv[1])) == NULL || connection_string == NULL)
    {
        fprintf(stderr, "usage: C2D_CHECK_CONNECTION_STRING=... %s <mqtt|mqtt-ws|amqp|amqp-ws|http> <ca-pem-file> <seconds> [trace]\n", argv[0]);
        return 1;
    }
    ca_pem = read_file(argv[2]);
    if (ca_pem == NULL)
    {
        fprintf(stderr, "cannot read the CA file %s\n", argv[2]);
        return 1;
    }
    seconds = strtol(argv[3], NULL, 10);
    if (seconds <= 0)
    {
        seconds = 60;
    }

#ifdef C2D_CHECK_HAS_C_LOGGING
    if (logger_init() != 0)
    {
        fprintf(stderr, "logger_init failed\n");
        free(ca_pem);
        return 1;
    }
#endif
    if (IoTHub_Init() != 0)
    {
        fprintf(stderr, "IoTHub_Init failed\n");
        free(ca_pem);
        return 1;
    }
    client = IoTHubDeviceClient_LL_CreateFromConnectionString(connection_string, protocol);
    if (client == NULL)
    {
        fprintf(stderr, "IoTHubDeviceClient_LL_CreateFromConnectionString failed\n");
    }
    else
    {
        bool trace = argc > 4 && strcmp(argv[4], "trace") == 0;
        /* IoT Hub URL-encodes the property bag in an MQTT topic; the SDK decodes it only when asked. */
        bool url_decode = true;
        /* The SDK's default for HTTPS is a poll every 25 minutes; a check wants one a second. */
        unsigned int polling_seconds = 1;
        if (IoTHubDeviceClient_LL_SetOption(client, OPTION_TRUSTED_CERT, ca_pem) != IOTHUB_CLIENT_OK)
        {
            fprintf(stderr, "setting the trusted certificate failed\n");
        }
        else if (trace && protocol != HTTP_Protocol && IoTHubDeviceClient_LL_SetOption(client, OPTION_LOG_TRACE, &trace) != IOTHUB_CLIENT_OK)
        {
            /* (The HTTPS transport has no frame trace: its curl layer refuses the option.) */
            fprintf(stderr, "setting logtrace failed\n");
        }
        else if ((protocol == MQTT_Protocol || protocol == MQTT_WebSocket_Protocol) &&
            IoTHubDeviceClient_LL_SetOption(client, OPTION_AUTO_URL_ENCODE_DECODE, &url_decode) != IOTHUB_CLIENT_OK)
        {
            fprintf(stderr, "setting auto_url_encode_decode failed\n");
        }
        else if (protocol == HTTP_Protocol &&
            IoTHubDeviceClient_LL_SetOption(client, OPTION_MIN_POLLING_TIME, &polling_seconds) != IOTHUB_CLIENT_OK)
        {
            fprintf(stderr, "setting MinimumPollingTime failed\n");
        }
        else if (IoTHubDeviceClient_LL_SetConnectionStatusCallback(client, on_connection_status, NULL) != IOTHUB_CLIENT_OK)
        {
            fprintf(stderr, "IoTHubDeviceClient_LL_SetConnectionStatusCallback failed\n");
        }
        else if (IoTHubDeviceClient_LL_SetMessageCallback(client, on_message, NULL) != IOTHUB_CLIENT_OK)
        {
            fprintf(stderr, "IoTHubDeviceClient_LL_SetMessageCallback failed\n");
        }
        else
        {
            struct timespec tick;
            tick.tv_sec = 0;
            tick.tv_nsec = 10 * 1000 * 1000;
            deadline = time(NULL) + seconds;
            while (time(NULL) < deadline && !stdin_closed())
            {
                IoTHubDeviceClient_LL_DoWork(client);
                nanosleep(&tick, NULL);
            }
            /* A last round so a settlement decided just now still goes out. */
            IoTHubDeviceClient_LL_DoWork(client);
            result = messages_received > 0 ? 0 : 2;
        }
        IoTHubDeviceClient_LL_Destroy(client);
    }
    IoTHub_Deinit();
#ifdef C2D_CHECK_HAS_C_LOGGING
    logger_deinit();
#endif
    free(ca_pem);
    return result;
}
