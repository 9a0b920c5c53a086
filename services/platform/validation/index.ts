// Public surface of platform/validation: Request checks shared by services (ids, text, addresses, items) and money formatting.
export { validateAddress } from "./address-validation.js";
export { itemLimits, validateItems } from "./item-validation.js";
export { formatMoney, moneyFormatter } from "./money-format.js";
export { isUuid, limitText, maxIdLength, requireText, requireUuid } from "./validation.js";
