// Public surface of platform/admin: the operator's AdminService (dead letters, failed outbox rows), served by orders and shipping.
export { adminBinding } from "./admin-binding.js";
export type { AdminBinding } from "./admin-binding.js";
export { createAdminService, deadLetterError } from "./admin-service.js";
export type { AdminServiceOptions } from "./admin-service.js";
export { deadLetterDetailToProto, deadLetterToProto, failedOutboxEventToProto, refToProto } from "./admin-mapping.js";
export { defaultPageSize, filterOf, maxPageSize, retrySelectionOf, selectionOf } from "./admin-requests.js";
