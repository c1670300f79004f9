/*
 * An ingest node's claim on its ingest.node.id, on a real cluster. Audit IDs
 * are (counter << 8) | node: two nodes with one ID would hand out the same
 * IDs, so the second one to start must refuse to. The claim is membership of
 * the consumer group execlog-ingest-<topic>-node-<id>, held by a consumer that
 * consumes nothing, named execlog-claim-<replica ID> (client.id): the same
 * node restarting after a crash recognises what is left of its previous run,
 * another node finds a member that is not itself and stops. A node that
 * stops leaves the group; one killed outright leaves it when its session
 * expires (6 s).
 */
#ifndef XL_INGEST_CLAIM_H
#define XL_INGEST_CLAIM_H

#include <stddef.h>

typedef struct st_xl_claim_t xl_claim_t;

/**
 * @brief Claim node_id for this node (instance names it: the replica ID),
 * joining its group through the events topic. Blocks until joined and
 * checked (bounded by timeout_ms). props are librdkafka name/value pairs.
 * @return the claim, held until xl_claim_destroy, or NULL with err saying
 * which node holds the ID (or why it could not be checked).
 */
xl_claim_t *xl_claim_create(const char *const *props, size_t nprops, const char *topic, int node_id,
                            const char *instance, int timeout_ms, char *err, size_t errlen);
/** @brief Leave the group (the ID is free again) and free. NULL is fine. */
void xl_claim_destroy(xl_claim_t *claim);

#endif
