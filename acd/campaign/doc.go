// Package campaign is the outbound dialler: contact lists imported from CSV
// or pulled from the CRM, calling windows per region and weekday, the
// do-not-call list, retry rules by outcome, preview and progressive
// dialling paced under a maximum abandon rate, blending with inbound work,
// and the results export. It decides who is called and when; the engine
// places the calls (Engine).
package campaign
